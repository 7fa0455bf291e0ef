"""Provider webhooks against generated bodies: an answer, never a 500.

A provider that gets a 500 retries for days. Whatever the body (broken
JSON, the wrong shape, odd values, NUL characters), an authenticated post is
answered with a 2xx or a 4xx, and a post without credentials changes
nothing at all.
"""

import base64
import json

import pytest
from django.db import transaction
from django.test import Client
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from consent.models import ConsentEvent, Profile
from delivery.quarantine.models import Address, Bounce, StatusChange

SECRET = "provider:a-long-random-webhook-password"
ENDPOINTS = [
    "/webhooks/postmark/tracking/",
    "/webhooks/sendgrid/tracking/",
    "/webhooks/mailjet/tracking/",
    "/webhooks/sparkpost/tracking/",
    "/webhooks/brevo/tracking/",
]
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=30),
        st.sampled_from(
            [
                "Bounce",
                "HardBounce",
                "SpamComplaint",
                "bounce",
                "dropped",
                "ana.webhook@example.com",
                "not an address",
                "\x00",
                "\udbff",
                "2026-01-01T00:00:00Z",
            ]
        ),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "RecordType",
                    "Type",
                    "Email",
                    "Recipient",
                    "email",
                    "event",
                    "Description",
                    "Details",
                    "BouncedAt",
                    "MessageID",
                    "timestamp",
                    "reason",
                    "msys",
                ]
            ),
            children,
            max_size=6,
        ),
    ),
    max_leaves=12,
)
bodies = st.one_of(
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=300),
    st.lists(json_values, max_size=3).map(lambda v: json.dumps(v).encode()),
)


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": SECRET}


@pytest.fixture
def ana(make_profile):
    return make_profile(email="ana.webhook@example.com")


def authorization(credentials: str = SECRET) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def state() -> tuple:
    return (
        list(Profile.objects.order_by("pk").values()),
        ConsentEvent.objects.count(),
        Address.objects.count(),
        StatusChange.objects.count(),
        Bounce.objects.count(),
    )


@HYPOTHESIS
@given(endpoint=st.sampled_from(ENDPOINTS), body=bodies)
def test_any_authenticated_body_gets_an_answer_not_a_500(ana, endpoint, body):
    provider = Client(raise_request_exception=False)

    with transaction.atomic():
        response = provider.post(
            endpoint,
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=authorization(),
        )
        transaction.set_rollback(True)

    assert response.status_code < 500, (endpoint, body, response.status_code)
    event(f"status {response.status_code}")


@HYPOTHESIS
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    body=bodies,
    credentials=st.one_of(
        st.just(""), st.text(max_size=40), st.just("provider:wrong-password")
    ),
)
def test_a_post_without_the_right_credentials_changes_nothing(
    ana, endpoint, body, credentials
):
    provider = Client(raise_request_exception=False)
    before = state()

    response = provider.post(
        endpoint,
        data=body,
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization(credentials),
    )

    assert response.status_code in (400, 401, 403)
    assert state() == before


@pytest.mark.parametrize("odd", ["", "\x00", "\udbff", "é" * 20_000])
def test_a_well_formed_bounce_with_odd_text_still_quarantines_the_address(ana, odd):
    provider = Client(raise_request_exception=False)
    payload = {
        "RecordType": "Bounce",
        "Type": "HardBounce",
        "TypeCode": 1,
        "Email": "ana.webhook@example.com",
        "BouncedAt": "2026-01-01T00:00:00Z",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483" + odd,
        "Description": "unknown user" + odd,
        "Details": "smtp;550 5.1.1 The email account that you tried to reach "
        "does not exist." + odd,
    }

    response = provider.post(
        "/webhooks/postmark/tracking/",
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=authorization(),
    )

    assert response.status_code == 200
    assert Address.objects.get(address="ana.webhook@example.com").status == (
        "quarantined"
    )
