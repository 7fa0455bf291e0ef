"""Absolute links to the landing pages, for messages and commands.

Every link is built on settings.SITE_URL, the public base of the site, so a
message sent by a batch job points where recipients can reach it.
"""

from django.conf import settings
from django.urls import reverse

from consent.models import Channel, Profile, Service
from consent.tokens import Purpose, make_token


def _absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def unsubscribe_url(
    profile: Profile, *, service: Service | None = None, channel: str | None = None
) -> str:
    """The unsubscribe page for a message about `service` sent on `channel`.

    The same URL takes the RFC 8058 one-click POST. Without a service the
    page and the one-click POST stop the channel; without a channel, the
    service's channel is meant, or e-mail when there is no service either.
    """
    if channel is None:
        channel = service.channel if service is not None else Channel.EMAIL
    token = make_token(
        Purpose.UNSUBSCRIBE,
        public_id=profile.public_id,
        service_id=service.pk if service is not None else None,
        channel=channel,
    )
    return _absolute(reverse("consent:unsubscribe", args=[token]))


def stop_all_url(profile: Profile) -> str:
    """The page where a person asks never to be contacted again."""
    token = make_token(Purpose.STOP_ALL, public_id=profile.public_id)
    return _absolute(reverse("consent:stop_all", args=[token]))


def preferences_url(profile: Profile) -> str:
    """The person's preference centre: channels and services."""
    token = make_token(Purpose.PREFERENCES, public_id=profile.public_id)
    return _absolute(reverse("consent:preferences", args=[token]))


def confirm_url(profile: Profile, service: Service) -> str:
    """The page that confirms a pending subscription; it expires."""
    token = make_token(
        Purpose.CONFIRM, public_id=profile.public_id, service_id=service.pk
    )
    return _absolute(reverse("consent:confirm", args=[token]))


def subscribe_url(service: Service) -> str:
    """The public page where anyone may subscribe to the service."""
    return _absolute(reverse("consent:subscribe", args=[service.name]))
