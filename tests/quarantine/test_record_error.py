"""The quarantine rules of DESIGN.md, each at its boundary."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from delivery.quarantine.actions import apply_error, record_error
from delivery.quarantine.models import Address, Bounce, Status, StatusChange

pytestmark = pytest.mark.django_db

BOUNCE = StatusChange.Source.BOUNCE


def hard(address="reader@example.com", **extra):
    return record_error(
        address=address,
        channel="email",
        kind="hard",
        reason="user_unknown",
        source=BOUNCE,
        **extra,
    )


def test_hard_error_quarantines_the_address_at_once():
    row = hard(diagnostic="550 5.1.1 user unknown", status_code="5.1.1")

    row.refresh_from_db()
    assert (row.status, row.reason) == (Status.QUARANTINED, "user_unknown")
    assert row.last_diagnostic == "550 5.1.1 user unknown"
    change = StatusChange.objects.get(address=row)
    assert (change.old_status, change.new_status, change.source) == (
        Status.VALID,
        Status.QUARANTINED,
        BOUNCE,
    )
    bounce = Bounce.objects.get(address=row)
    assert (bounce.kind, bounce.status_code, bounce.counted) == ("hard", "5.1.1", True)


def test_address_is_normalised_before_it_is_stored():
    row = hard(address="  Reader@Example.COM ")

    assert row.address == "reader@example.com"
    assert row.domain == "example.com"
    assert Address.objects.count() == 1


def test_an_address_that_is_not_one_is_refused_and_nothing_is_written():
    with pytest.raises(ValidationError):
        hard(address="not an address")

    assert not Address.objects.exists()
    assert not Bounce.objects.exists()


def test_first_soft_error_moves_the_address_to_with_errors_and_counts_one(
    soft_error, long_ago
):
    outcome = soft_error(at=long_ago)

    row = outcome.address
    assert (row.status, row.error_count, outcome.counted) == (
        Status.WITH_ERRORS,
        1,
        True,
    )
    assert row.first_error_at == long_ago == row.last_counted_error_at
    assert StatusChange.objects.filter(
        address=row, new_status=Status.WITH_ERRORS
    ).exists()


def test_a_soft_error_less_than_24_hours_after_the_last_counted_is_not_counted(
    soft_error, long_ago
):
    soft_error(at=long_ago)
    outcome = soft_error(at=long_ago + timedelta(hours=24) - timedelta(seconds=1))

    assert outcome.counted is False
    assert outcome.address.error_count == 1
    assert outcome.address.last_counted_error_at == long_ago
    assert Bounce.objects.filter(counted=False).count() == 1


def test_a_soft_error_24_hours_after_the_last_counted_is_counted(soft_error, long_ago):
    soft_error(at=long_ago)
    outcome = soft_error(at=long_ago + timedelta(hours=24))

    assert outcome.counted is True
    assert outcome.address.error_count == 2


def test_the_fifth_counted_soft_error_quarantines_the_address(soft_error, long_ago):
    for day in range(4):
        outcome = soft_error(at=long_ago + timedelta(days=day))
    assert (outcome.address.status, outcome.address.error_count) == (
        Status.WITH_ERRORS,
        4,
    )

    outcome = soft_error(at=long_ago + timedelta(days=4), reason="mailbox_full")

    row = outcome.address
    row.refresh_from_db()
    assert (row.status, row.reason, row.error_count) == (
        Status.QUARANTINED,
        "mailbox_full",
        5,
    )
    assert list(
        StatusChange.objects.filter(address=row)
        .order_by("id")
        .values_list("old_status", "new_status")
    ) == [(Status.VALID, Status.WITH_ERRORS), (Status.WITH_ERRORS, Status.QUARANTINED)]


def test_soft_errors_within_one_day_never_reach_the_threshold(soft_error, long_ago):
    for minute in range(0, 600, 60):
        outcome = soft_error(at=long_ago + timedelta(minutes=minute))

    assert (outcome.address.status, outcome.address.error_count) == (
        Status.WITH_ERRORS,
        1,
    )


def test_the_count_restarts_when_the_last_counted_error_is_more_than_10_days_old(
    soft_error, long_ago
):
    for day in range(3):
        soft_error(at=long_ago + timedelta(days=day))
    last_counted = long_ago + timedelta(days=2)

    outcome = soft_error(at=last_counted + timedelta(days=10, seconds=1))

    assert outcome.address.error_count == 1
    assert outcome.address.first_error_at == last_counted + timedelta(
        days=10, seconds=1
    )


def test_the_count_goes_on_when_the_last_counted_error_is_exactly_10_days_old(
    soft_error, long_ago
):
    for day in range(3):
        soft_error(at=long_ago + timedelta(days=day))

    outcome = soft_error(at=long_ago + timedelta(days=12))

    assert outcome.address.error_count == 4


def test_thresholds_come_from_the_settings(settings, soft_error, long_ago):
    settings.QUARANTINE_SOFT_ERROR_LIMIT = 2
    settings.QUARANTINE_SOFT_ERROR_GAP_HOURS = 1

    soft_error(at=long_ago)
    outcome = soft_error(at=long_ago + timedelta(hours=1))

    assert outcome.address.status == Status.QUARANTINED


def test_ignored_errors_never_count_and_change_nothing(long_ago):
    outcome = apply_error(
        address="away@example.com",
        channel="email",
        kind="ignored",
        reason="not_connected",
        source=BOUNCE,
        occurred_at=long_ago,
    )

    row = outcome.address
    row.refresh_from_db()
    assert (row.status, row.error_count, row.last_error_at) == (Status.VALID, 0, None)
    assert not StatusChange.objects.exists()
    assert Bounce.objects.get().counted is False


@pytest.mark.parametrize("kind", ["hard", "soft"])
def test_allowlisted_address_is_never_changed_by_errors(kind):
    from delivery.quarantine.actions import allowlist_address

    allowlist_address(address="seed@example.com", channel="email", source="operator")
    before = Address.objects.get()

    outcome = apply_error(
        address="seed@example.com",
        channel="email",
        kind=kind,
        reason="user_unknown",
        source=BOUNCE,
    )

    row = Address.objects.get()
    assert (row.status, row.error_count, row.last_error_at) == (
        Status.ALLOWLISTED,
        0,
        None,
    )
    assert row.updated_at == before.updated_at
    assert outcome.counted is False
    assert StatusChange.objects.filter(address=row).count() == 1  # the allowlist


def test_denylisted_address_stays_denylisted_after_a_hard_error():
    from delivery.quarantine.actions import denylist_address

    denylist_address(address="gone@example.com", channel="email", source="operator")

    hard(address="gone@example.com")

    assert Address.objects.get().status == Status.DENYLISTED
    assert StatusChange.objects.count() == 1


def test_quarantined_address_notes_later_errors_without_new_history(long_ago):
    hard(occurred_at=long_ago)
    later = long_ago + timedelta(days=3)

    apply_error(
        address="reader@example.com",
        channel="email",
        kind="soft",
        reason="mailbox_full",
        source=BOUNCE,
        diagnostic="452 4.2.2 over quota",
        occurred_at=later,
    )

    row = Address.objects.get()
    assert (row.status, row.reason, row.last_error_at) == (
        Status.QUARANTINED,
        "user_unknown",
        later,
    )
    assert row.last_diagnostic == "452 4.2.2 over quota"
    assert StatusChange.objects.count() == 1
    assert Bounce.objects.count() == 2


def test_the_same_report_applied_twice_counts_once(soft_error, long_ago):
    soft_error(at=long_ago, message_id="<report-1@mx.example>")

    again = soft_error(
        at=long_ago + timedelta(days=2), message_id="<report-1@mx.example>"
    )

    assert again.duplicate is True
    assert again.address.error_count == 1
    assert Bounce.objects.count() == 1


def test_a_report_dated_in_the_future_is_taken_as_now(soft_error):
    before = timezone.now()

    outcome = soft_error(at=timezone.now() + timedelta(days=3))

    assert before <= outcome.address.last_error_at <= timezone.now()


def test_an_older_report_arriving_late_does_not_move_the_last_error_back(
    soft_error, long_ago
):
    soft_error(at=long_ago + timedelta(days=5))

    outcome = soft_error(at=long_ago)

    assert outcome.counted is True
    assert outcome.address.error_count == 2
    assert outcome.address.last_error_at == long_ago + timedelta(days=5)
    assert outcome.address.first_error_at == long_ago


def test_nul_characters_are_dropped_from_stored_text():
    row = hard(diagnostic="550 bad\x00 user", raw="raw\x00 message")

    assert Bounce.objects.get(address=row).diagnostic == "550 bad user"
    assert Bounce.objects.get(address=row).raw == "raw message"


def test_sms_errors_are_kept_per_phone_number():
    row = record_error(
        address="+1 415 555 0100",
        channel="sms",
        kind="hard",
        reason="user_unknown",
        source=StatusChange.Source.SEND,
    )

    assert (row.address, row.channel, row.domain) == ("+14155550100", "sms", "")


@pytest.mark.parametrize(
    ("kind", "reason"), [("fatal", "unknown"), ("hard", "bad_luck")]
)
def test_unknown_kind_or_reason_is_a_programming_error(kind, reason):
    with pytest.raises(ValueError):
        record_error(
            address="a@example.com",
            channel="email",
            kind=kind,
            reason=reason,
            source=BOUNCE,
        )

    assert not Address.objects.exists()
