"""The admin's service list and form."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from consent.models import Subscription

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:consent_service_changelist")


@pytest.fixture
def operator_client(client, consent_operator):
    client.force_login(consent_operator)
    return client


def subscribe_many(service, make_profile, **counts):
    for status, count in counts.items():
        Subscription.objects.bulk_create(
            Subscription(profile=make_profile(), service=service, status=status)
            for _ in range(count)
        )


def test_the_list_counts_each_status_per_service(
    operator_client, make_profile, newsletter, confirmed_news
):
    subscribe_many(newsletter, make_profile, subscribed=3, unsubscribed=1)
    subscribe_many(confirmed_news, make_profile, pending=2)

    response = operator_client.get(CHANGELIST)

    assert response.status_code == 200
    rows = {
        service.name: (
            service.pending_count,
            service.subscribed_count,
            service.unsubscribed_count,
        )
        for service in response.context["cl"].result_list
    }
    assert rows == {"news": (0, 3, 1), "deals": (2, 0, 0)}
    body = response.content.decode()
    assert f"?service__id__exact={newsletter.pk}&amp;status__exact=subscribed" in body


def test_counting_takes_the_same_queries_for_many_services(
    operator_client, make_profile, make_service
):
    for _ in range(3):
        subscribe_many(make_service(), make_profile, subscribed=2, pending=1)
    with CaptureQueriesContext(connection) as few:
        operator_client.get(CHANGELIST)

    for _ in range(12):
        subscribe_many(make_service(), make_profile, subscribed=2, pending=1)
    with CaptureQueriesContext(connection) as many:
        operator_client.get(CHANGELIST)

    assert len(many) == len(few)


def test_the_list_links_the_public_subscribe_page_of_email_services(
    operator_client, newsletter, make_service
):
    make_service(name="alerts", channel="sms")

    body = operator_client.get(CHANGELIST).content.decode()

    assert 'href="http://127.0.0.1:8000/p/subscribe/news/"' in body
    assert "/p/subscribe/alerts/" not in body


def test_changing_the_validity_reschedules_running_subscriptions(
    operator_client, make_profile, make_service
):
    service = make_service(name="yearly", label="Yearly", validity_days=365)
    started = timezone.now()
    subscription = Subscription.objects.create(
        profile=make_profile(),
        service=service,
        status="subscribed",
        subscribed_at=started,
        expires_at=None,
    )

    response = operator_client.post(
        reverse("admin:consent_service_change", args=[service.pk]),
        {
            "name": "yearly",
            "label": "Yearly",
            "channel": "email",
            "is_active": "on",
            "validity_days": "30",
        },
        follow=True,
    )

    assert response.status_code == 200
    assert "The new validity applies to 1 running subscription." in (
        response.content.decode()
    )
    subscription.refresh_from_db()
    assert (subscription.expires_at - subscription.subscribed_at).days == 30


def test_a_validity_of_zero_days_is_refused(operator_client):
    response = operator_client.post(
        reverse("admin:consent_service_add"),
        {"name": "zero", "label": "Zero", "channel": "email", "validity_days": "0"},
    )

    assert response.status_code == 200
    assert "greater than or equal to 1" in response.content.decode()


def test_a_viewer_sees_services_but_cannot_change_them(
    client, consent_viewer, newsletter
):
    client.force_login(consent_viewer)

    assert client.get(CHANGELIST).status_code == 200
    response = client.post(
        reverse("admin:consent_service_change", args=[newsletter.pk]),
        {"name": "news", "label": "Renamed", "channel": "email"},
    )
    assert response.status_code == 403
    newsletter.refresh_from_db()
    assert newsletter.label == "Weekly news"
