"""consent.actions.unsubscribe and unsubscribe_by_link."""

import uuid

import pytest

from consent.actions import Origin, subscribe, unsubscribe, unsubscribe_by_link
from consent.models import Subscription
from tests.consent.landing_support import ledger

pytestmark = pytest.mark.django_db

OPERATOR = Origin("operator")


@pytest.fixture
def ana(make_profile, newsletter):
    profile = make_profile(email="ana@example.com")
    subscribe(profile=profile, service=newsletter, origin=OPERATOR)
    return profile


def test_unsubscribing_ends_the_subscription_and_records_it(ana, newsletter):
    assert unsubscribe(profile=ana, service=newsletter, origin=OPERATOR)

    subscription = Subscription.objects.get()
    assert subscription.status == Subscription.Status.UNSUBSCRIBED
    assert subscription.unsubscribed_at is not None
    assert ledger(action="unsubscribe") == [
        ("unsubscribe", "operator", "email", "news")
    ]


def test_unsubscribing_twice_records_once(ana, newsletter):
    unsubscribe(profile=ana, service=newsletter, origin=OPERATOR)

    assert not unsubscribe(profile=ana, service=newsletter, origin=OPERATOR)
    assert len(ledger(action="unsubscribe")) == 1


def test_a_pending_request_can_be_withdrawn(make_profile, confirmed_news):
    bea = make_profile(email="bea@example.com")
    subscribe(profile=bea, service=confirmed_news, origin=OPERATOR, double_opt_in=True)

    assert unsubscribe(profile=bea, service=confirmed_news, origin=OPERATOR)
    assert Subscription.objects.get().status == Subscription.Status.UNSUBSCRIBED


def test_by_link_names_the_profile_by_its_public_id(ana, newsletter):
    changed = unsubscribe_by_link(
        public_id=ana.public_id,
        service_id=newsletter.pk,
        channel="email",
        origin=Origin("one_click"),
    )

    assert changed
    assert ana.consent_events.filter(action="unsubscribe", source="one_click").exists()


def test_by_link_without_a_service_opts_out_of_the_channel(ana):
    unsubscribe_by_link(
        public_id=ana.public_id, service_id=None, channel="sms", origin=OPERATOR
    )

    ana.refresh_from_db()
    assert ana.sms_opt_out is True
    assert ledger(action="opt_out") == [("opt_out", "operator", "sms", None)]


def test_by_link_for_an_unknown_profile_changes_nothing(ana, newsletter):
    changed = unsubscribe_by_link(
        public_id=uuid.uuid4(),
        service_id=newsletter.pk,
        channel="email",
        origin=OPERATOR,
    )

    assert not changed
    assert Subscription.objects.get().status == Subscription.Status.SUBSCRIBED
    assert ledger(action="unsubscribe") == []
