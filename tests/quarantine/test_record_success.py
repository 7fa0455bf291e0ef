"""A successful send returns an address with errors to valid."""

from datetime import timedelta

import pytest

from delivery.quarantine.actions import (
    record_error,
    record_success,
    record_successes,
)
from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db


def error(address, kind, long_ago, **extra):
    return record_error(
        address=address,
        channel="email",
        kind=kind,
        reason="unreachable" if kind == "soft" else "user_unknown",
        source=StatusChange.Source.BOUNCE,
        occurred_at=long_ago,
        **extra,
    )


def test_success_returns_with_errors_to_valid_and_restarts_the_count(
    soft_error, long_ago
):
    soft_error(at=long_ago)
    soft_error(at=long_ago + timedelta(days=1))

    record_success(address="Reader@example.com", channel="email")

    row = Address.objects.get()
    assert (row.status, row.reason, row.error_count, row.last_counted_error_at) == (
        Status.VALID,
        "",
        0,
        None,
    )
    last = StatusChange.objects.filter(address=row).first()
    assert (last.old_status, last.new_status, last.source) == (
        Status.WITH_ERRORS,
        Status.VALID,
        StatusChange.Source.SEND,
    )


def test_after_a_success_the_next_soft_error_counts_from_one(soft_error, long_ago):
    soft_error(at=long_ago)
    record_success(address="reader@example.com", channel="email")

    outcome = soft_error(at=long_ago + timedelta(hours=1))

    assert (outcome.address.status, outcome.address.error_count) == (
        Status.WITH_ERRORS,
        1,
    )


def test_success_does_not_lift_a_quarantine(long_ago):
    error("gone@example.com", "hard", long_ago)

    record_success(address="gone@example.com", channel="email")

    assert Address.objects.get().status == Status.QUARANTINED
    assert StatusChange.objects.count() == 1


def test_success_for_an_unknown_address_writes_nothing():
    record_success(address="new@example.com", channel="email")

    assert not Address.objects.exists()


def test_many_successes_at_once_release_only_with_errors(soft_error, long_ago):
    soft_error("one@example.com", at=long_ago)
    soft_error("two@example.com", at=long_ago)
    error("three@example.com", "hard", long_ago)

    changed = record_successes(
        addresses=["one@example.com", "two@example.com", "three@example.com"],
        channel="email",
    )

    assert changed == 2
    assert dict(Address.objects.values_list("address", "status")) == {
        "one@example.com": Status.VALID,
        "two@example.com": Status.VALID,
        "three@example.com": Status.QUARANTINED,
    }
    assert StatusChange.objects.filter(source=StatusChange.Source.SEND).count() == 2
