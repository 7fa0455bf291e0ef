"""The unsubscribe page of a message's link: /p/unsubscribe/<token>/."""

import pytest
from django.test import Client

from consent.links import unsubscribe_url
from consent.models import Subscription
from tests.consent.landing_support import ledger, path

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader(make_profile, newsletter):
    profile = make_profile(email="ana@example.com")
    Subscription.objects.create(
        profile=profile, service=newsletter, status="subscribed"
    )
    return profile


def test_the_page_says_what_will_happen_and_changes_nothing(client, reader, newsletter):
    response = client.get(path(unsubscribe_url(reader, service=newsletter)))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Unsubscribe from Weekly news</title>" in body
    assert "You will no longer receive Weekly news." in body
    assert "Stop all messages by e-mail</button>" in body
    assert "Do not contact me at all, on any channel</button>" in body
    assert Subscription.objects.get().status == "subscribed"
    assert ledger() == []


def test_a_head_request_changes_nothing(client, reader, newsletter):
    assert client.head(path(unsubscribe_url(reader, service=newsletter))).status_code
    assert Subscription.objects.get().status == "subscribed"


def test_the_main_button_unsubscribes_from_the_service_of_the_message(
    client, reader, newsletter
):
    response = client.post(
        path(unsubscribe_url(reader, service=newsletter)),
        {"scope": "service"},
        REMOTE_ADDR="198.51.100.7",
    )

    assert response.status_code == 200
    assert "You will no longer receive Weekly news." in response.content.decode()
    subscription = Subscription.objects.get()
    assert subscription.status == "unsubscribed"
    assert subscription.unsubscribed_at is not None
    event = reader.consent_events.get()
    assert (event.action, event.source, event.service, event.channel) == (
        "unsubscribe",
        "landing_page",
        newsletter,
        "email",
    )
    assert event.wording == "Unsubscribe me from Weekly news"
    assert event.ip_address == "198.51.100.7"
    reader.refresh_from_db()
    assert not reader.email_opt_out


def test_stopping_the_channel_instead_opts_out_of_e_mail(client, reader, newsletter):
    client.post(path(unsubscribe_url(reader, service=newsletter)), {"scope": "channel"})

    reader.refresh_from_db()
    assert reader.email_opt_out is True
    assert reader.no_longer_contact is False
    assert ledger() == [("opt_out", "landing_page", "email", None)]


def test_stopping_everything_instead_sets_no_longer_contact(client, reader, newsletter):
    client.post(
        path(unsubscribe_url(reader, service=newsletter)), {"scope": "everything"}
    )

    reader.refresh_from_db()
    assert reader.no_longer_contact is True
    assert ledger() == [("opt_out", "landing_page", "", None)]


def test_a_link_without_a_service_offers_the_channel_first(client, reader):
    link = path(unsubscribe_url(reader, channel="sms"))

    body = client.get(link).content.decode()
    assert "Unsubscribe from messages by SMS" in body
    assert 'name="scope" value="service"' not in body

    refused = client.post(link, {"scope": "service"})
    assert refused.status_code == 400
    assert "Choose one of the buttons below." in refused.content.decode()

    client.post(link, {"scope": "channel"})
    reader.refresh_from_db()
    assert reader.sms_opt_out is True
    assert ledger() == [("opt_out", "landing_page", "sms", None)]


def test_resubmitting_changes_nothing_more(client, reader, newsletter):
    link = path(unsubscribe_url(reader, service=newsletter))
    client.post(link, {"scope": "service"})

    again = client.post(link, {"scope": "service"})

    assert again.status_code == 200
    assert len(ledger()) == 1


def test_the_page_form_is_protected_against_cross_site_posts(reader, newsletter):
    browser = Client(enforce_csrf_checks=True)
    link = path(unsubscribe_url(reader, service=newsletter))

    forged = browser.post(link, {"scope": "everything"})

    assert forged.status_code == 403
    assert "Please send the form again" in forged.content.decode()
    reader.refresh_from_db()
    assert reader.no_longer_contact is False

    page = browser.get(link)
    token = page.context["csrf_token"]
    sent = browser.post(link, {"scope": "everything", "csrfmiddlewaretoken": token})
    assert sent.status_code == 200
    reader.refresh_from_db()
    assert reader.no_longer_contact is True


def test_the_page_speaks_the_profile_language_over_the_browser(
    client, reader, newsletter
):
    reader.language = "pt-br"
    reader.save()

    response = client.get(
        path(unsubscribe_url(reader, service=newsletter)),
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response["Content-Language"] == "pt-br"
    assert '<html lang="pt-br">' in response.content.decode()
