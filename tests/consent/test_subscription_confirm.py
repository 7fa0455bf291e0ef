"""consent.actions.confirm_subscription: pending becomes subscribed."""

import pytest

from consent.actions import Origin, confirm_subscription, subscribe
from consent.models import Subscription
from tests.consent.landing_support import ledger

pytestmark = pytest.mark.django_db

PAGE = Origin("landing_page", wording="Yes, I want to receive Deals.")


@pytest.fixture
def ana(make_profile):
    return make_profile(email="ana@example.com")


def test_a_pending_subscription_is_confirmed_once(ana, confirmed_news):
    subscribe(profile=ana, service=confirmed_news, origin=PAGE, double_opt_in=True)

    first = confirm_subscription(profile=ana, service=confirmed_news, origin=PAGE)
    second = confirm_subscription(profile=ana, service=confirmed_news, origin=PAGE)

    assert (first, second) == (True, False)
    subscription = Subscription.objects.get()
    assert subscription.status == Subscription.Status.SUBSCRIBED
    assert subscription.expires_at is not None
    assert [row[0] for row in ledger()] == ["subscribe_pending", "confirm"]


def test_nothing_to_confirm_without_a_request(ana, confirmed_news):
    assert not confirm_subscription(profile=ana, service=confirmed_news, origin=PAGE)
    assert not Subscription.objects.exists()
    assert ledger() == []


def test_confirming_lifts_only_the_refusal_of_the_service_channel(
    make_profile, confirmed_news
):
    ana = make_profile(email="ana@example.com", email_opt_out=True, sms_opt_out=True)
    subscribe(profile=ana, service=confirmed_news, origin=PAGE, double_opt_in=True)

    confirm_subscription(profile=ana, service=confirmed_news, origin=PAGE)

    ana.refresh_from_db()
    assert ana.email_opt_out is False
    assert ana.sms_opt_out is True
    assert ledger(action="opt_in") == [("opt_in", "landing_page", "email", None)]
