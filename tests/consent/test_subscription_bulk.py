"""consent.actions.bulk_subscribe and bulk_unsubscribe."""

import pytest

from consent import actions
from consent.actions import Origin, bulk_subscribe, bulk_unsubscribe, subscribe
from consent.models import Profile, Subscription
from tests.consent.landing_support import ledger

pytestmark = pytest.mark.django_db

OPERATOR = Origin("operator", note="signed up at the fair")


@pytest.fixture
def people(make_profile, confirmed_news):
    new, pending, ended, running = (make_profile() for _ in range(4))
    subscribe(
        profile=pending, service=confirmed_news, origin=OPERATOR, double_opt_in=True
    )
    Subscription.objects.create(
        profile=ended, service=confirmed_news, status="unsubscribed"
    )
    subscribe(profile=running, service=confirmed_news, origin=OPERATOR)
    return {"new": new, "pending": pending, "ended": ended, "running": running}


def status(profile) -> str:
    return Subscription.objects.get(profile=profile).status


def test_bulk_subscribe_starts_every_subscription_not_running(people, confirmed_news):
    before = len(ledger())

    changed = bulk_subscribe(
        profiles=Profile.objects.all(), service=confirmed_news, origin=OPERATOR
    )

    assert changed == 3
    assert {name: status(p) for name, p in people.items()} == {
        "new": "subscribed",
        "pending": "subscribed",
        "ended": "subscribed",
        "running": "subscribed",
    }
    started = Subscription.objects.get(profile=people["new"])
    assert (started.expires_at - started.subscribed_at).days == 365
    rows = ledger()[before:]
    assert rows == [("subscribe", "operator", "email", "deals")] * 3
    notes = set(people["new"].consent_events.values_list("note", flat=True).distinct())
    assert notes == {"signed up at the fair"}


def test_bulk_subscribe_twice_changes_nothing_more(people, confirmed_news):
    bulk_subscribe(
        profiles=Profile.objects.all(), service=confirmed_news, origin=OPERATOR
    )
    before = len(ledger())

    again = bulk_subscribe(
        profiles=Profile.objects.all(), service=confirmed_news, origin=OPERATOR
    )

    assert again == 0
    assert len(ledger()) == before


def test_bulk_unsubscribe_ends_pending_and_running_ones(people, confirmed_news):
    before = len(ledger())

    changed = bulk_unsubscribe(
        profiles=Profile.objects.all(), service=confirmed_news, origin=OPERATOR
    )

    assert changed == 2
    assert status(people["pending"]) == status(people["running"]) == "unsubscribed"
    assert not Subscription.objects.filter(profile=people["new"]).exists()
    assert ledger()[before:] == [("unsubscribe", "operator", "email", "deals")] * 2


def test_bulk_changes_touch_only_the_profiles_given(people, confirmed_news):
    chosen = Profile.objects.filter(pk=people["new"].pk)

    bulk_subscribe(profiles=chosen, service=confirmed_news, origin=OPERATOR)

    assert status(people["ended"]) == "unsubscribed"
    assert status(people["pending"]) == "pending"


def test_bulk_work_larger_than_one_batch(make_profile, newsletter, monkeypatch):
    monkeypatch.setattr(actions, "BATCH_SIZE", 3)
    Profile.objects.bulk_create(Profile(first_name=f"P{n}") for n in range(10))

    started = bulk_subscribe(
        profiles=Profile.objects.all(), service=newsletter, origin=OPERATOR
    )
    ended = bulk_unsubscribe(
        profiles=Profile.objects.all(), service=newsletter, origin=OPERATOR
    )

    assert (started, ended) == (10, 10)
    assert len(ledger()) == 20
