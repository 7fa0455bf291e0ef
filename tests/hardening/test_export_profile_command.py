"""export_profile: everything held about one person, as JSON."""

import json
import stat
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.hardening.rights_support import (
    ANA_AGENT,
    ANA_EMAIL,
    ANA_IP,
    ANA_PHONE,
    person_with_history,
)


@pytest.fixture
def ana(db, settings):
    return person_with_history(settings)[0]


def export(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("export_profile", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_export_holds_profile_ledger_subscriptions_addresses_and_deliveries(
    ana,
):
    document = json.loads(export(str(ana.public_id))[0])

    assert document["format"] == "consent-console/profile-export/1"
    assert document["profile"]["email"] == ANA_EMAIL
    assert document["profile"]["mobile_phone"] == ANA_PHONE
    assert document["profile"]["postal_address"] == "Rua A, 1"
    assert document["profile"]["sms_opt_out"] is True
    assert [
        (row["action"], row["channel"], row["source"])
        for row in document["consent_history"]
    ] == [("opt_out", "sms", "landing_page"), ("subscribe", "email", "operator")]
    assert document["consent_history"][0]["ip_address"] == ANA_IP
    assert document["consent_history"][0]["user_agent"] == ANA_AGENT
    assert [(s["service"], s["status"]) for s in document["subscriptions"]] == [
        ("news", "subscribed")
    ]
    email, sms = document["addresses"]
    assert (email["channel"], email["address"], email["status"]) == (
        "email",
        ANA_EMAIL,
        "with_errors",
    )
    assert email["bounces"][0]["diagnostic"] == "552 5.2.2 mailbox full"
    assert email["status_history"][0]["to"] == "with_errors"
    assert (sms["channel"], sms["status"]) == ("sms", "valid")
    assert [(d["label"], d["address"]) for d in document["deliveries"]] == [
        ("Spring news", ANA_EMAIL)
    ]


def test_the_export_holds_nothing_of_another_person(ana):
    text = export(str(ana.pk))[0]

    assert "bea.rights@example.com" not in text
    assert "Bea" not in text


def test_the_export_by_database_id_is_the_same_as_by_public_id(ana):
    by_id = json.loads(export(str(ana.pk))[0])
    by_public_id = json.loads(export(str(ana.public_id))[0])

    by_id.pop("exported_at")
    by_public_id.pop("exported_at")
    assert by_id == by_public_id


def test_the_export_written_to_a_file_is_readable_by_its_owner_only(ana, tmp_path):
    output = tmp_path / "ana.json"

    printed, summary = export(str(ana.public_id), "--output", str(output))

    assert printed == ""
    assert summary.strip() == f"Profile #{ana.pk} exported to {output}."
    assert json.loads(output.read_text())["profile"]["email"] == ANA_EMAIL
    assert stat.S_IMODE(output.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "identifier", ["999999", "00000000-0000-0000-0000-000000000000", "ana", "-1"]
)
def test_an_unknown_profile_is_a_clear_error(ana, identifier):
    with pytest.raises(CommandError) as refused:
        export(identifier)

    assert str(refused.value) == (f"No profile has the id or public id {identifier!r}.")


def test_an_unwritable_output_is_a_clear_error(ana, tmp_path):
    with pytest.raises(CommandError) as refused:
        export(str(ana.pk), "--output", str(tmp_path / "missing" / "ana.json"))

    assert "cannot be written" in str(refused.value)
