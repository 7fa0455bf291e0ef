"""What an operator does to addresses: one at a time, or many at once."""

import pytest

from delivery.quarantine.actions import (
    allowlist_address,
    allowlist_addresses,
    denylist_address,
    denylist_addresses,
    record_error,
    release_address,
    release_addresses,
)
from delivery.quarantine.models import Address, Status, StatusChange
from delivery.quarantine.selectors import excluded_addresses

pytestmark = pytest.mark.django_db

OPERATOR = StatusChange.Source.OPERATOR


def quarantine(address):
    return record_error(
        address=address,
        channel="email",
        kind="hard",
        reason="user_unknown",
        source=StatusChange.Source.BOUNCE,
    )


def test_denylisting_an_address_without_a_row_creates_it_excluded(superuser):
    changed = denylist_address(
        address="Stop@Example.com",
        channel="email",
        source=OPERATOR,
        operator=superuser,
        note="asked by phone",
    )

    assert changed is True
    assert list(excluded_addresses("email").values_list("address", flat=True)) == [
        "stop@example.com"
    ]
    change = StatusChange.objects.get()
    assert (change.operator, change.note, change.reason) == (
        superuser,
        "asked by phone",
        "manual",
    )


def test_denylisting_twice_records_one_change():
    denylist_address(address="stop@example.com", channel="email", source=OPERATOR)

    assert (
        denylist_address(address="stop@example.com", channel="email", source=OPERATOR)
        is False
    )
    assert StatusChange.objects.count() == 1


def test_release_makes_a_quarantined_address_valid_with_a_fresh_count(superuser):
    quarantine("gone@example.com")

    assert release_address(
        address="gone@example.com",
        channel="email",
        source=OPERATOR,
        operator=superuser,
    )

    row = Address.objects.get()
    assert (row.status, row.reason, row.error_count) == (Status.VALID, "", 0)
    assert StatusChange.objects.filter(
        new_status=Status.VALID, operator=superuser
    ).exists()


def test_releasing_an_address_without_a_row_changes_nothing():
    assert (
        release_address(address="new@example.com", channel="email", source=OPERATOR)
        is False
    )
    assert not Address.objects.exists()


def test_allowlisting_lifts_a_quarantine():
    quarantine("seed@example.com")

    assert allowlist_address(
        address="seed@example.com", channel="email", source=OPERATOR
    )

    assert Address.objects.get().status == Status.ALLOWLISTED
    assert not excluded_addresses("email").exists()


def test_bulk_actions_change_only_what_differs_and_record_each(superuser):
    for name in ("a", "b", "c"):
        quarantine(f"{name}@example.com")
    denylist_address(address="d@example.com", channel="email", source=OPERATOR)
    everyone = Address.objects.all()

    assert (
        denylist_addresses(addresses=everyone, source=OPERATOR, operator=superuser) == 3
    )
    assert release_addresses(addresses=everyone, source=OPERATOR) == 4
    assert (
        allowlist_addresses(
            addresses=everyone.filter(address="a@example.com"), source=OPERATOR
        )
        == 1
    )

    assert dict(Address.objects.values_list("address", "status")) == {
        "a@example.com": Status.ALLOWLISTED,
        "b@example.com": Status.VALID,
        "c@example.com": Status.VALID,
        "d@example.com": Status.VALID,
    }
    # 3 quarantines + 1 denylist, then 3 + 4 + 1 bulk changes.
    assert StatusChange.objects.count() == 12
    assert (
        StatusChange.objects.filter(
            operator=superuser, new_status=Status.DENYLISTED
        ).count()
        == 3
    )


def test_bulk_changes_work_in_batches(monkeypatch):
    from delivery.quarantine import actions

    monkeypatch.setattr(actions, "BATCH_SIZE", 2)
    for number in range(5):
        quarantine(f"user{number}@example.com")

    assert release_addresses(addresses=Address.objects.all(), source=OPERATOR) == 5
    assert not Address.objects.exclude(status=Status.VALID).exists()
    assert StatusChange.objects.filter(new_status=Status.VALID).count() == 5
