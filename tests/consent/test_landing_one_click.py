"""RFC 8058 one-click unsubscribe: a POST to the unsubscribe link."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from consent.links import unsubscribe_url
from consent.models import Profile, Subscription
from tests.consent.landing_support import ledger, path

pytestmark = pytest.mark.django_db

ONE_CLICK = b"List-Unsubscribe=One-Click"


@pytest.fixture
def provider() -> Client:
    """A mailbox provider: no cookie, and CSRF checks enforced."""
    return Client(enforce_csrf_checks=True)


def one_click(provider: Client, link: str):
    return provider.post(
        path(link),
        ONE_CLICK,
        content_type="application/x-www-form-urlencoded",
        HTTP_USER_AGENT="Mailbox-Provider/1.0",
    )


@pytest.fixture
def reader(make_profile, newsletter):
    profile = make_profile(email="ana@example.com")
    Subscription.objects.create(
        profile=profile, service=newsletter, status="subscribed"
    )
    return profile


def test_one_click_unsubscribes_from_the_service_at_once(provider, reader, newsletter):
    response = one_click(provider, unsubscribe_url(reader, service=newsletter))

    assert response.status_code == 200
    assert response.content == b"Unsubscribed.\n"
    assert "Set-Cookie" not in response.headers
    assert Subscription.objects.get().status == "unsubscribed"
    event = reader.consent_events.get()
    assert (event.action, event.source, event.channel, event.service) == (
        "unsubscribe",
        "one_click",
        "email",
        newsletter,
    )
    assert event.user_agent == "Mailbox-Provider/1.0"
    assert event.ip_address == "127.0.0.1"


def test_one_click_without_a_service_opts_out_of_the_channel(provider, reader):
    response = one_click(provider, unsubscribe_url(reader, channel="sms"))

    assert response.status_code == 200
    reader.refresh_from_db()
    assert reader.sms_opt_out is True
    assert reader.email_opt_out is False
    assert ledger() == [("opt_out", "one_click", "sms", None)]


def test_one_click_is_idempotent(provider, reader, newsletter):
    link = unsubscribe_url(reader, service=newsletter)

    first = one_click(provider, link)
    second = one_click(provider, link)

    assert first.status_code == second.status_code == 200
    assert ledger() == [("unsubscribe", "one_click", "email", "news")]


def test_one_click_takes_one_update_and_one_ledger_insert(provider, reader, newsletter):
    link = unsubscribe_url(reader, service=newsletter)

    with CaptureQueriesContext(connection) as queries:
        one_click(provider, link)

    statements = [
        q["sql"].split()[0]
        for q in queries.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))
    ]
    assert statements == ["UPDATE", "INSERT"]


def test_one_click_with_multipart_body_works_too(provider, reader, newsletter):
    response = provider.post(
        path(unsubscribe_url(reader, service=newsletter)),
        {"List-Unsubscribe": "One-Click"},
    )

    assert response.status_code == 200
    assert Subscription.objects.get().status == "unsubscribed"


def test_a_tampered_one_click_link_is_refused_and_changes_nothing(
    provider, reader, newsletter, caplog
):
    link = unsubscribe_url(reader, service=newsletter)
    token = path(link).rstrip("/").rsplit("/", 1)[-1]
    replacement = "AAA" if token[-3:] != "AAA" else "BBB"
    tampered = link.replace(token, token[:-3] + replacement)

    response = one_click(provider, tampered)

    assert response.status_code == 400
    assert Subscription.objects.get().status == "subscribed"
    assert ledger() == []
    assert token[:-3] not in caplog.text
    assert str(reader.public_id.hex) not in caplog.text


def test_a_one_click_for_a_deleted_profile_gets_404(provider, reader, newsletter):
    link = unsubscribe_url(reader, service=newsletter)
    Profile.objects.filter(pk=reader.pk).delete()

    response = one_click(provider, link)

    assert response.status_code == 404
    assert ledger() == []


def test_a_post_with_another_body_is_not_a_one_click(provider, reader, newsletter):
    response = provider.post(
        path(unsubscribe_url(reader, service=newsletter)),
        b"List-Unsubscribe=Something-Else",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 403
    assert Subscription.objects.get().status == "subscribed"
