"""The upkeep: with_errors goes back to valid after 10 days, 30 for a full
mailbox; quarantined and denylisted never do."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.quarantine.actions import (
    denylist_address,
    lift_expired_errors,
    record_error,
)
from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db


def error_at(address, *, kind="soft", reason="unreachable", days_ago, now):
    return record_error(
        address=address,
        channel="email",
        kind=kind,
        reason=reason,
        source=StatusChange.Source.BOUNCE,
        occurred_at=now - days_ago,
    )


def statuses():
    return dict(Address.objects.values_list("address", "status"))


def test_with_errors_returns_to_valid_only_after_more_than_10_days():
    now = timezone.now()
    error_at("old@example.com", days_ago=timedelta(days=10, seconds=1), now=now)
    error_at("edge@example.com", days_ago=timedelta(days=10), now=now)

    counts = lift_expired_errors(now=now)

    assert counts == {"mailbox_full": 0, "other": 1}
    assert statuses() == {
        "old@example.com": Status.VALID,
        "edge@example.com": Status.WITH_ERRORS,
    }
    change = StatusChange.objects.get(source=StatusChange.Source.UPKEEP)
    assert (change.old_status, change.new_status) == (Status.WITH_ERRORS, Status.VALID)
    assert "10 days" in change.note


def test_a_full_mailbox_waits_30_days():
    now = timezone.now()
    error_at(
        "full@example.com", reason="mailbox_full", days_ago=timedelta(days=29), now=now
    )
    error_at(
        "edge@example.com", reason="mailbox_full", days_ago=timedelta(days=30), now=now
    )
    error_at(
        "long@example.com",
        reason="mailbox_full",
        days_ago=timedelta(days=30, seconds=1),
        now=now,
    )

    counts = lift_expired_errors(now=now)

    assert counts == {"mailbox_full": 1, "other": 0}
    assert statuses() == {
        "full@example.com": Status.WITH_ERRORS,
        "edge@example.com": Status.WITH_ERRORS,
        "long@example.com": Status.VALID,
    }


def test_quarantined_and_denylisted_are_never_lifted_automatically():
    now = timezone.now()
    error_at(
        "gone@example.com",
        kind="hard",
        reason="user_unknown",
        days_ago=timedelta(days=400),
        now=now,
    )
    denylist_address(address="stop@example.com", channel="email", source="operator")

    assert lift_expired_errors(now=now + timedelta(days=400)) == {
        "mailbox_full": 0,
        "other": 0,
    }
    assert statuses() == {
        "gone@example.com": Status.QUARANTINED,
        "stop@example.com": Status.DENYLISTED,
    }
