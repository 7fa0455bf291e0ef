"""Reads of profiles and consent that other code shares."""

from datetime import datetime

from django.db.models import Q, QuerySet

from consent.models import (
    OPT_OUT_FIELDS,
    ConsentEvent,
    Profile,
    Service,
    Subscription,
)


def contactable_on(channel: str) -> Q:
    """Profiles that refused neither the channel nor everything."""
    return Q(no_longer_contact=False, **{OPT_OUT_FIELDS[channel]: False})


def profiles_sharing_addresses(profile: Profile) -> QuerySet[Profile]:
    """Other profiles that hold this profile's e-mail or mobile phone."""
    shared = Q()
    if profile.email:
        shared |= Q(email=profile.email)
    if profile.mobile_phone:
        shared |= Q(mobile_phone=profile.mobile_phone)
    if not shared:
        return Profile.objects.none()
    return Profile.objects.filter(shared).exclude(pk=profile.pk).order_by("pk")


def consent_history(profile: Profile) -> QuerySet[ConsentEvent]:
    """The profile's ledger rows, newest first, with what they refer to."""
    return profile.consent_events.select_related("service", "operator").order_by(
        "-created_at", "-id"
    )


def subscriptions_of(profile: Profile) -> QuerySet[Subscription]:
    """The profile's subscriptions, of every status, with their service."""
    return profile.subscriptions.select_related("service").order_by(
        "service__label", "service_id"
    )


def subscribers_of(service: Service) -> QuerySet[Profile]:
    """Profiles whose subscription to the service is running.

    Opt-outs are not applied here: delivery analysis counts them.
    """
    return Profile.objects.filter(
        subscriptions__service=service,
        subscriptions__status=Subscription.Status.SUBSCRIBED,
    )


def subscriptions_due_to_end(now: datetime) -> QuerySet[Subscription]:
    """Running subscriptions whose validity ended at or before `now`."""
    return Subscription.objects.filter(
        status=Subscription.Status.SUBSCRIBED, expires_at__lte=now
    )
