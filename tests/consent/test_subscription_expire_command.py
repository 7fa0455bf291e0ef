"""expire_subscriptions: end subscriptions past their service's validity."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from consent.actions import expire_subscriptions, reschedule_expiry
from consent.models import Subscription
from tests.consent.landing_support import ledger

pytestmark = pytest.mark.django_db


@pytest.fixture
def due_and_not(make_profile, make_service):
    yearly = make_service(name="yearly", validity_days=365)
    forever = make_service(name="forever")
    now = timezone.now()
    long_ago = now - timedelta(days=400)
    rows = {
        "due": (yearly, long_ago, long_ago + timedelta(days=365)),
        "recent": (yearly, now, now + timedelta(days=365)),
        "unlimited": (forever, long_ago, None),
    }
    made = {}
    for name, (service, start, end) in rows.items():
        made[name] = Subscription.objects.create(
            profile=make_profile(),
            service=service,
            status="subscribed",
            subscribed_at=start,
            expires_at=end,
        )
    return made


def run(*args) -> str:
    out = StringIO()
    call_command("expire_subscriptions", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def statuses(made) -> dict:
    return {name: Subscription.objects.get(pk=s.pk).status for name, s in made.items()}


def test_only_subscriptions_past_their_end_are_ended_and_recorded(due_and_not):
    output = run()

    assert output == "1 subscription(s) ended.\n"
    assert statuses(due_and_not) == {
        "due": "unsubscribed",
        "recent": "subscribed",
        "unlimited": "subscribed",
    }
    assert ledger() == [("expire", "expiry", "email", "yearly")]
    assert due_and_not["due"].profile.consent_events.get().action == "expire"


def test_dry_run_counts_and_changes_nothing(due_and_not):
    output = run("--dry-run", "--json")

    assert json.loads(output) == {"expired": 1, "dry_run": True}
    assert statuses(due_and_not)["due"] == "subscribed"
    assert ledger() == []


def test_json_reports_what_ended_and_a_second_run_finds_nothing(due_and_not):
    assert json.loads(run("--json")) == {"expired": 1, "dry_run": False}
    assert json.loads(run("--json")) == {"expired": 0, "dry_run": False}
    assert len(ledger()) == 1


def test_a_large_backlog_ends_in_batches(make_profile, make_service):
    service = make_service(validity_days=1)
    past = timezone.now() - timedelta(days=2)
    Subscription.objects.bulk_create(
        Subscription(
            profile=make_profile(),
            service=service,
            status="subscribed",
            subscribed_at=past,
            expires_at=past + timedelta(days=1),
        )
        for _ in range(7)
    )
    seen = []

    ended = expire_subscriptions(batch_size=3, progress=seen.append)

    assert ended == 7
    assert seen == [3, 6, 7]
    assert not Subscription.objects.filter(status="subscribed").exists()
    assert len(ledger(action="expire")) == 7


def test_a_new_validity_applies_to_running_subscriptions(due_and_not):
    recent = due_and_not["recent"]
    service = recent.service
    service.validity_days = 10
    service.save()

    updated = reschedule_expiry(service=service)

    recent.refresh_from_db()
    assert updated == 2
    assert recent.expires_at - recent.subscribed_at == timedelta(days=10)
    assert json.loads(run("--dry-run", "--json"))["expired"] == 1
