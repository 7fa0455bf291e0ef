"""Reads of address states that other apps share."""

from django.db.models import QuerySet

from delivery.quarantine.models import Address, Status

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
