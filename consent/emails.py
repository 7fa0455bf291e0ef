"""The e-mails a subscription sends: the request to confirm, the welcome.

Both are scheduled by consent.actions with transaction.on_commit, so they
leave only once the change they announce is saved. A failure to send is
logged and swallowed: the person has already seen the page, and the
subscription stays as it is (a new request sends a pending one again).
"""

import logging
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _

from consent.links import (
    confirm_url,
    preferences_url,
    stop_all_url,
    unsubscribe_url,
)
from consent.models import Subscription
from consent.tokens import CONFIRMATION_MAX_AGE
from delivery.quarantine.selectors import excluded_addresses

logger = logging.getLogger(__name__)


def _load(subscription_id: int) -> Subscription | None:
    subscription = (
        Subscription.objects.select_related("profile", "service")
        .filter(pk=subscription_id)
        .first()
    )
    if subscription is None or not subscription.profile.email:
        return None
    if excluded_addresses("email").filter(address=subscription.profile.email).exists():
        # Mail to a denylisted or quarantined address would bounce or be
        # unwanted; the person can still be confirmed by an operator.
        logger.info("subscription %s: address excluded, no mail", subscription_id)
        return None
    return subscription


def _send(
    subscription: Subscription,
    *,
    kind: str,
    subject: str,
    template: str,
    context: dict,
    headers: dict | None = None,
) -> bool:
    body = render_to_string(template, context)
    message = EmailMultiAlternatives(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[subscription.profile.email],
        headers=headers or {},
    )
    # TODO: send through a queue (Celery) instead of in the request once the
    # delivery area runs workers; until then a slow SMTP server slows the
    # page by as much.
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as exc:
        # The exception text may name the address: log its type only.
        logger.error(
            "subscription %s: %s mail not sent (%s)",
            subscription.pk,
            kind,
            type(exc).__name__,
        )
        return False
    logger.info("subscription %s: %s mail sent", subscription.pk, kind)
    return True


def send_confirmation_request(subscription_id: int) -> bool:
    """Send the link that confirms a pending subscription."""
    subscription = _load(subscription_id)
    if subscription is None or subscription.status != Subscription.Status.PENDING:
        return False
    profile, service = subscription.profile, subscription.service

    with translation.override(profile.language):
        subject = service.confirmation_subject or _(
            "Please confirm your subscription to %(service)s"
        ) % {"service": service.label}
        context = {
            "profile": profile,
            "service": service,
            "confirm_url": confirm_url(profile, service),
            "valid_days": CONFIRMATION_MAX_AGE.days,
        }
        return _send(
            subscription,
            kind="confirmation request",
            subject=subject,
            template="consent/email/confirmation_request.txt",
            context=context,
        )


def send_confirmation_message(subscription_id: int) -> bool:
    """Send the service's message to a subscription that has just started."""
    subscription = _load(subscription_id)
    if subscription is None or subscription.status != Subscription.Status.SUBSCRIBED:
        return False
    profile, service = subscription.profile, subscription.service
    leave_url = unsubscribe_url(profile, service=service)

    with translation.override(profile.language):
        subject = service.confirmation_subject or _(
            "You are subscribed to %(service)s"
        ) % {"service": service.label}
        context = {
            "profile": profile,
            "service": service,
            "unsubscribe_url": leave_url,
            "preferences_url": preferences_url(profile),
            "stop_all_url": stop_all_url(profile),
        }
        return _send(
            subscription,
            kind="confirmation message",
            subject=subject,
            template="consent/email/confirmation_message.txt",
            context=context,
            # RFC 2369 and RFC 8058: mailbox providers offer their own
            # unsubscribe button, which POSTs to the same link.
            headers={
                "List-Unsubscribe": f"<{leave_url}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
