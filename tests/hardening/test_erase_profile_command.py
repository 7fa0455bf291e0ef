"""erase_profile: a dry run by default, then erasure with a ledger record."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from consent.models import ConsentEvent, Profile, Subscription
from delivery.models import Recipient
from delivery.quarantine.models import Address
from tests.hardening.rights_support import ANA_EMAIL, person_with_history


@pytest.fixture
def ana(db, settings):
    return person_with_history(settings)[0]


def erase(*args) -> str:
    out = StringIO()
    call_command("erase_profile", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_without_yes_it_shows_what_would_go_and_changes_nothing(ana):
    events_before = list(ConsentEvent.objects.values())

    output = erase(str(ana.public_id))

    assert f"Profile #{ana.pk} would be erased (dry run)" in output
    assert "2 consent ledger rows anonymised" in output
    assert "1 subscriptions and 1 delivery records deleted" in output
    assert "Kept: the email address's quarantine state (with_errors)" in output
    assert "Run again with --yes" in output
    assert ANA_EMAIL not in output
    assert Profile.objects.filter(pk=ana.pk).exists()
    assert list(ConsentEvent.objects.values()) == events_before


def test_with_yes_the_person_is_gone_and_the_ledger_keeps_anonymous_rows(ana):
    bea = Profile.objects.get(first_name="Bea")
    ledger_ids = list(
        ConsentEvent.objects.filter(profile=ana).values_list("pk", flat=True)
    )

    output = erase(str(ana.pk), "--yes", "--note", "ticket 42")

    assert f"Profile #{ana.pk} erased" in output
    assert not Profile.objects.filter(pk=ana.pk).exists()
    assert not Profile.objects.filter(email=ANA_EMAIL).exists()
    assert not Subscription.objects.filter(profile_id=ana.pk).exists()
    assert not Recipient.objects.filter(profile_id=ana.pk).exists()
    kept = ConsentEvent.objects.filter(pk__in=ledger_ids)
    assert kept.count() == 2
    assert set(kept.values_list("profile", "ip_address", "user_agent")) == {
        (None, None, "")
    }
    erasure = ConsentEvent.objects.get(action="erase")
    assert erasure.profile is None
    assert erasure.note == (
        f"Profile #{ana.pk} erased on request: 2 ledger rows anonymised, "
        "1 subscriptions and 1 delivery records deleted. ticket 42"
    )
    assert ANA_EMAIL not in erasure.note
    assert Profile.objects.filter(pk=bea.pk).exists()
    # The address's state is shared and kept (see consent.rights).
    assert Address.objects.filter(address=ANA_EMAIL).exists()


def test_json_output_says_what_was_erased(ana):
    data = json.loads(erase(str(ana.public_id), "--yes", "--json"))

    assert data == {
        "profile_id": ana.pk,
        "consent_events_anonymised": 2,
        "subscriptions_deleted": 1,
        "delivery_records_deleted": 1,
        "addresses_kept": [{"channel": "email", "status": "with_errors"}],
        "done": True,
    }


def test_erasing_twice_is_a_clear_error(ana):
    erase(str(ana.pk), "--yes")

    with pytest.raises(CommandError) as refused:
        erase(str(ana.pk), "--yes")

    assert str(refused.value) == f"No profile has the id or public id '{ana.pk}'."
    assert ConsentEvent.objects.filter(action="erase").count() == 1
