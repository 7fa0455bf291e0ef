"""Reads of address states that other apps share."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet

from delivery.quarantine.models import Address, Reason, Status

# Statuses that keep an address out of deliveries.
EXCLUDING_STATUSES = (Status.DENYLISTED, Status.QUARANTINED)


def addresses_on(channel: str) -> QuerySet[Address]:
    """Every address row of the channel ('email' or 'sms')."""
    return Address.objects.filter(channel=channel)


def excluded_addresses(channel: str) -> QuerySet[Address]:
    """Addresses of the channel that no delivery may reach."""
    return addresses_on(channel).filter(status__in=EXCLUDING_STATUSES)


def statuses_of(channel: str, addresses: list[str]) -> dict[str, Address]:
    """The rows for these normalised addresses, keyed by address."""
    if not addresses:
        return {}
    return {
        row.address: row
        for row in addresses_on(channel).filter(address__in=set(addresses))
    }


def expired_error_addresses(*, now: datetime) -> QuerySet[Address]:
    """with_errors addresses whose last error is older than the upkeep
    allows: QUARANTINE_ERROR_RESET_DAYS, or QUARANTINE_MAILBOX_FULL_RESET_DAYS
    for a full mailbox."""
    regular = now - timedelta(days=settings.QUARANTINE_ERROR_RESET_DAYS)
    mailbox_full = now - timedelta(days=settings.QUARANTINE_MAILBOX_FULL_RESET_DAYS)
    return Address.objects.filter(status=Status.WITH_ERRORS).filter(
        Q(reason=Reason.MAILBOX_FULL, last_error_at__lt=mailbox_full)
        | (~Q(reason=Reason.MAILBOX_FULL) & Q(last_error_at__lt=regular))
    )


def outage_addresses(
    *,
    since: datetime,
    until: datetime,
    domain: str = "",
    reason: str = "",
) -> QuerySet[Address]:
    """Quarantined or with_errors addresses whose last error falls between
    two moments (both included), optionally of one domain and one reason:
    what a provider outage may have put there."""
    found = Address.objects.filter(
        status__in=(Status.QUARANTINED, Status.WITH_ERRORS),
        last_error_at__gte=since,
        last_error_at__lte=until,
    )
    if domain:
        found = found.filter(channel="email", domain=domain.strip().lower())
    if reason:
        found = found.filter(reason=reason)
    return found


def profile_addresses(profile) -> list[tuple[str, str]]:
    """The (channel, normalised address) pairs a profile can be reached at."""
    pairs = []
    if profile.email:
        pairs.append(("email", profile.email))
    if profile.mobile_phone:
        pairs.append(("sms", profile.mobile_phone))
    return pairs
