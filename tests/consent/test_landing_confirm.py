"""The confirmation page of a double opt-in: /p/confirm/<token>/."""

import time

import pytest
from django.core import signing

from consent.links import confirm_url
from consent.models import Subscription
from tests.consent.landing_support import ledger, path

pytestmark = pytest.mark.django_db


@pytest.fixture
def pending(make_profile, confirmed_news):
    profile = make_profile(email="ana@example.com")
    Subscription.objects.create(
        profile=profile, service=confirmed_news, status="pending"
    )
    return profile


def status_of(profile) -> str:
    return Subscription.objects.get(profile=profile).status


def test_opening_the_link_asks_but_changes_nothing(client, pending, confirmed_news):
    response = client.get(path(confirm_url(pending, confirmed_news)))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Confirm your subscription to Deals</title>" in body
    assert "Confirm my subscription</button>" in body
    assert status_of(pending) == "pending"
    assert ledger() == []


def test_pressing_the_button_confirms_and_records_it(client, pending, confirmed_news):
    response = client.post(
        path(confirm_url(pending, confirmed_news)), HTTP_USER_AGENT="Safari"
    )

    assert response.status_code == 200
    assert "Your subscription to Deals is confirmed" in response.content.decode()
    subscription = Subscription.objects.get()
    assert subscription.status == "subscribed"
    assert subscription.subscribed_at is not None
    assert (subscription.expires_at - subscription.subscribed_at).days == 365
    assert ledger() == [("confirm", "landing_page", "email", "deals")]
    event = pending.consent_events.get()
    assert event.wording == "Yes, I want to receive Deals."
    assert event.user_agent == "Safari"


def test_confirming_twice_changes_nothing_more(client, pending, confirmed_news):
    link = path(confirm_url(pending, confirmed_news))
    client.post(link)

    again = client.post(link)

    assert again.status_code == 200
    assert "is confirmed" in again.content.decode()
    assert len(ledger()) == 1


def test_a_withdrawn_request_cannot_be_confirmed(client, pending, confirmed_news):
    Subscription.objects.update(status="unsubscribed")

    response = client.post(path(confirm_url(pending, confirmed_news)))

    assert "This request is no longer open" in response.content.decode()
    assert 'href="/p/subscribe/deals/"' in response.content.decode()
    assert status_of(pending) == "unsubscribed"
    assert ledger() == []


def test_confirming_lets_the_refused_channel_through_again_and_only_it(
    client, pending, confirmed_news
):
    pending.no_longer_contact = True
    pending.email_opt_out = True
    pending.save()
    link = path(confirm_url(pending, confirmed_news))
    assert "You had asked us not to contact you" in client.get(link).content.decode()

    client.post(link)

    pending.refresh_from_db()
    assert pending.no_longer_contact is False
    assert pending.email_opt_out is False
    assert pending.sms_opt_out and pending.phone_opt_out
    assert pending.direct_mail_opt_out and pending.push_opt_out
    assert sorted(ledger()) == sorted(
        [
            ("confirm", "landing_page", "email", "deals"),
            ("opt_out", "landing_page", "sms", None),
            ("opt_out", "landing_page", "phone", None),
            ("opt_out", "landing_page", "direct_mail", None),
            ("opt_out", "landing_page", "push", None),
            ("opt_in", "landing_page", "", None),
            ("opt_in", "landing_page", "email", None),
        ]
    )


def test_an_expired_link_asks_to_subscribe_again(
    client, pending, confirmed_news, monkeypatch
):
    eight_days_ago = int(time.time()) - 8 * 24 * 3600
    monkeypatch.setattr(
        signing.TimestampSigner,
        "timestamp",
        lambda self: signing.b62_encode(eight_days_ago),
    )
    link = path(confirm_url(pending, confirmed_news))
    monkeypatch.undo()

    response = client.post(link)

    assert response.status_code == 400
    assert "This confirmation link has expired" in response.content.decode()
    assert status_of(pending) == "pending"


def test_a_tampered_link_is_refused(client, pending, confirmed_news):
    link = path(confirm_url(pending, confirmed_news))
    tampered = link.replace(f".{confirmed_news.pk}.", f".{confirmed_news.pk + 1}.")

    response = client.post(tampered)

    assert response.status_code == 400
    assert "This link does not work" in response.content.decode()
    assert status_of(pending) == "pending"


def test_a_retired_service_cannot_be_confirmed(client, pending, confirmed_news):
    confirmed_news.is_active = False
    confirmed_news.save()

    response = client.post(path(confirm_url(pending, confirmed_news)))

    assert response.status_code == 404
    assert "This subscription is not available" in response.content.decode()
    assert status_of(pending) == "pending"
