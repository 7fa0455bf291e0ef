"""clean_quarantine: the daily upkeep, with a dry run."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from delivery.quarantine.actions import record_error
from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db


def error(address, *, days_ago, reason="unreachable", kind="soft"):
    record_error(
        address=address,
        channel="email",
        kind=kind,
        reason=reason,
        source=StatusChange.Source.BOUNCE,
        occurred_at=timezone.now() - timedelta(days=days_ago),
    )


def run(*args):
    out = StringIO()
    call_command("clean_quarantine", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def addresses():
    error("old@example.com", days_ago=11)
    error("recent@example.com", days_ago=3)
    error("full-old@example.com", days_ago=31, reason="mailbox_full")
    error("full-recent@example.com", days_ago=20, reason="mailbox_full")
    error("gone@example.com", days_ago=90, kind="hard", reason="user_unknown")


def test_dry_run_counts_and_changes_nothing(addresses):
    out = run("--dry-run", "--json")

    assert json.loads(out) == {
        "dry_run": True,
        "back_to_valid": 2,
        "mailbox_full": 1,
        "other": 1,
    }
    assert Address.objects.filter(status=Status.WITH_ERRORS).count() == 4
    assert not StatusChange.objects.filter(source=StatusChange.Source.UPKEEP).exists()


def test_upkeep_returns_expired_errors_to_valid_with_history(addresses):
    out = run()

    assert "2 with_errors address(es) returned to valid" in out
    assert dict(Address.objects.values_list("address", "status")) == {
        "old@example.com": Status.VALID,
        "recent@example.com": Status.WITH_ERRORS,
        "full-old@example.com": Status.VALID,
        "full-recent@example.com": Status.WITH_ERRORS,
        "gone@example.com": Status.QUARANTINED,
    }
    assert StatusChange.objects.filter(source=StatusChange.Source.UPKEEP).count() == 2


def test_a_second_run_finds_nothing_to_do(addresses):
    run()

    assert json.loads(run("--json"))["back_to_valid"] == 0
