"""The preference centre: /p/preferences/<token>/."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.links import preferences_url
from consent.models import Subscription
from tests.consent.landing_support import ledger, path

pytestmark = pytest.mark.django_db

ALL_CHANNELS_ON = {
    "channel_email": "on",
    "channel_sms": "on",
    "channel_phone": "on",
    "channel_direct_mail": "on",
    "channel_push": "on",
}


@pytest.fixture
def person(make_profile):
    return make_profile(email="ana@example.com", sms_opt_out=True)


def test_the_page_shows_channels_and_services_as_they_are(
    client, person, newsletter, make_service
):
    make_service(name="retired", label="Retired", is_active=False)
    Subscription.objects.create(profile=person, service=newsletter, status="pending")

    response = client.get(path(preferences_url(person)))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Your preferences</title>" in body
    form = response.context["form"]
    assert form["channel_email"].initial is True
    assert form["channel_sms"].initial is False
    assert form[f"service_{newsletter.pk}"].initial is True
    assert "Waiting for your confirmation." in body
    assert "Retired" not in body
    assert 'for="id_channel_email"' in body


def test_one_submit_saves_every_change_with_a_ledger_row_each(
    client, person, newsletter, make_service
):
    alerts = make_service(name="alerts", label="Alerts", channel="sms")
    Subscription.objects.create(profile=person, service=alerts, status="subscribed")
    choices = {**ALL_CHANNELS_ON, f"service_{newsletter.pk}": "on"}
    del choices["channel_push"]

    response = client.post(path(preferences_url(person)), choices)

    assert response.status_code == 200
    assert "Your preferences are saved." in response.content.decode()
    person.refresh_from_db()
    assert person.sms_opt_out is False
    assert person.push_opt_out is True
    status = dict(
        Subscription.objects.filter(profile=person).values_list(
            "service__name", "status"
        )
    )
    assert status == {"news": "subscribed", "alerts": "unsubscribed"}
    assert sorted(ledger(profile=person)) == sorted(
        [
            ("opt_in", "landing_page", "sms", None),
            ("opt_out", "landing_page", "push", None),
            ("subscribe", "landing_page", "email", "news"),
            ("unsubscribe", "landing_page", "sms", "alerts"),
        ]
    )
    wording = person.consent_events.get(channel="push").wording
    assert wording == "You may send me push notifications"


def test_saving_unchanged_preferences_records_nothing(client, person, newsletter):
    unchanged = {k: v for k, v in ALL_CHANNELS_ON.items() if k != "channel_sms"}

    response = client.post(path(preferences_url(person)), unchanged)

    assert response.status_code == 200
    assert ledger() == []


def test_stop_everything_from_the_preference_centre(client, person):
    client.post(
        path(preferences_url(person)), {**ALL_CHANNELS_ON, "no_longer_contact": "on"}
    )

    person.refresh_from_db()
    assert person.no_longer_contact is True
    assert ("opt_out", "landing_page", "", None) in ledger()


def test_a_get_never_changes_anything(client, person, newsletter):
    client.get(path(preferences_url(person)), {"channel_email": "", "save": "1"})

    person.refresh_from_db()
    assert person.email_opt_out is False
    assert ledger() == []


def test_unknown_fields_and_non_utf8_values_change_nothing_they_should_not(
    client, person, newsletter
):
    body = b"channel_email=%FF&service_99999=on&no_longer_contact=" + b"x" * 50_000

    response = client.post(
        path(preferences_url(person)),
        body,
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    person.refresh_from_db()
    assert person.email_opt_out is False
    assert person.no_longer_contact is True
    assert not Subscription.objects.exists()


def test_the_page_takes_as_many_queries_for_many_services_as_for_one(
    client, person, make_service, django_assert_num_queries
):
    make_service()
    url = path(preferences_url(person))
    with CaptureQueriesContext(connection) as one_service:
        client.get(url)

    for _ in range(10):
        Subscription.objects.create(
            profile=person, service=make_service(), status="subscribed"
        )

    with django_assert_num_queries(len(one_service)):
        client.get(url)
