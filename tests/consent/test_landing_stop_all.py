"""Stop everything ("no longer contact"): /p/stop/<token>/."""

import pytest

from consent.links import preferences_url, stop_all_url
from tests.consent.landing_support import ledger, path

pytestmark = pytest.mark.django_db


def test_the_page_explains_and_changes_nothing(client, make_profile):
    profile = make_profile(email="ana@example.com")

    response = client.get(path(stop_all_url(profile)))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Stop all messages</title>" in body
    assert "we will not contact you again by e-mail, SMS, phone" in body
    profile.refresh_from_db()
    assert profile.no_longer_contact is False
    assert ledger() == []


def test_the_button_stops_everything_and_records_it(client, make_profile):
    profile = make_profile(email="ana@example.com")

    response = client.post(path(stop_all_url(profile)), HTTP_USER_AGENT="Chrome")

    assert response.status_code == 200
    assert "We will not contact you again" in response.content.decode()
    profile.refresh_from_db()
    assert profile.no_longer_contact is True
    event = profile.consent_events.get()
    assert (event.action, event.source, event.channel) == (
        "opt_out",
        "landing_page",
        "",
    )
    assert event.wording == "Do not contact me at all, on any channel"
    assert event.user_agent == "Chrome"


def test_stopping_twice_records_once_and_says_so(client, make_profile):
    profile = make_profile(email="ana@example.com")
    client.post(path(stop_all_url(profile)))

    page = client.get(path(stop_all_url(profile)))
    again = client.post(path(stop_all_url(profile)))

    assert "You have already asked us not to contact you" in page.content.decode()
    assert again.status_code == 200
    assert len(ledger()) == 1


def test_the_done_page_offers_the_preference_centre(client, make_profile):
    profile = make_profile(email="ana@example.com")

    response = client.post(path(stop_all_url(profile)))

    assert f'href="{path(preferences_url(profile))}"' in response.content.decode()


def test_a_preferences_link_does_not_open_the_stop_page(client, make_profile):
    profile = make_profile(email="ana@example.com")
    token = path(preferences_url(profile)).rstrip("/").rsplit("/", 1)[-1]

    response = client.post(f"/p/stop/{token}/")

    assert response.status_code == 400
    profile.refresh_from_db()
    assert profile.no_longer_contact is False
