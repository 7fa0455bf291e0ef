"""A spam complaint or an SMS STOP reply denylists the address."""

import pytest

from delivery.quarantine.actions import (
    allowlist_address,
    record_complaint,
    record_stop_reply,
)
from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db


def test_a_spam_complaint_denylists_the_address():
    assert record_complaint(address="Angry@Example.com") is True

    row = Address.objects.get()
    assert (row.address, row.status, row.reason) == (
        "angry@example.com",
        Status.DENYLISTED,
        "spam_complaint",
    )
    change = StatusChange.objects.get()
    assert (change.old_status, change.source) == (
        Status.VALID,
        StatusChange.Source.COMPLAINT,
    )


def test_a_second_complaint_changes_nothing():
    record_complaint(address="angry@example.com")

    assert record_complaint(address="angry@example.com") is False
    assert StatusChange.objects.count() == 1


def test_an_sms_stop_reply_denylists_the_number():
    assert record_stop_reply(phone="(415) 555-0199") is True

    row = Address.objects.get()
    assert (row.address, row.channel, row.status, row.reason) == (
        "+14155550199",
        "sms",
        Status.DENYLISTED,
        "refused",
    )
    assert StatusChange.objects.get().source == StatusChange.Source.SMS_STOP


def test_allowlisted_addresses_ignore_complaints_and_stop_replies():
    allowlist_address(address="seed@example.com", channel="email", source="operator")
    allowlist_address(address="+14155550100", channel="sms", source="operator")

    assert record_complaint(address="seed@example.com") is False
    assert record_stop_reply(phone="+14155550100") is False

    assert set(Address.objects.values_list("status", flat=True)) == {Status.ALLOWLISTED}
    assert StatusChange.objects.count() == 2
