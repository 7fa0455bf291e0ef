"""The public subscribe page: /p/subscribe/<service>/."""

import re
import time

import pytest
from django.urls import reverse

from consent.forms import form_started_token
from consent.models import ConsentEvent, Profile, Subscription
from tests.consent.landing_support import ledger, subscribe_form

pytestmark = pytest.mark.django_db


def url(service) -> str:
    return reverse("consent:subscribe", args=[service.name])


@pytest.fixture
def post(client, django_capture_on_commit_callbacks):
    """Post the form the way a browser does, running on-commit mail."""

    def run(service, **fields):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                url(service),
                subscribe_form(**fields),
                HTTP_USER_AGENT="Firefox/140",
                REMOTE_ADDR="203.0.113.9",
            )

    return run


def test_page_names_the_service_and_shows_the_wording_to_agree_to(client, newsletter):
    response = client.get(url(newsletter))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<title>Subscribe to Weekly news</title>" in body
    assert "<h1" in body and "Subscribe to Weekly news</h1>" in body
    assert "I want the weekly news by e-mail." in body
    assert 'for="id_email"' in body
    assert "bootstrap/css/bootstrap.min.css" in body
    # Everything the page loads comes from this site: no absolute URLs.
    assert not re.search(r'(src|href)="(https?:)?//', body)


def test_trap_field_is_hidden_from_people_and_screen_readers(client, newsletter):
    body = client.get(url(newsletter)).content.decode()

    trap = body[: body.index('name="website"')]
    assert 'class="visually-hidden"  aria-hidden="true"' in trap[-400:]


def test_single_opt_in_subscribes_a_new_address_and_records_the_wording(
    post, newsletter, mailoutbox
):
    response = post(newsletter, email="  Ana@Example.COM ", first_name="Ana")

    assert response.status_code == 200
    assert "Subscribed to Weekly news" in response.content.decode()
    profile = Profile.objects.get()
    assert profile.email == "ana@example.com"
    assert profile.first_name == "Ana"
    assert profile.language == "en"
    subscription = Subscription.objects.get()
    assert subscription.status == Subscription.Status.SUBSCRIBED
    event = ConsentEvent.objects.get()
    assert (event.action, event.source, event.channel, event.service_id) == (
        "subscribe",
        "landing_page",
        "email",
        newsletter.pk,
    )
    assert event.wording == "I want the weekly news by e-mail."
    assert event.ip_address == "203.0.113.9"
    assert event.user_agent == "Firefox/140"
    assert [m.to for m in mailoutbox] == [["ana@example.com"]]
    assert "You are subscribed to Weekly news" in mailoutbox[0].subject


def test_double_opt_in_leaves_the_subscription_pending_and_mails_a_link(
    post, confirmed_news, mailoutbox, settings
):
    settings.SITE_URL = "https://consent.example.org"

    response = post(confirmed_news)

    assert "Check your inbox" in response.content.decode()
    assert Subscription.objects.get().status == Subscription.Status.PENDING
    assert ledger() == [("subscribe_pending", "landing_page", "email", "deals")]
    (message,) = mailoutbox
    assert "https://consent.example.org/p/confirm/" in message.body


def test_an_existing_address_is_not_duplicated(post, newsletter, make_profile):
    known = make_profile(email="ana@example.com", first_name="Ana")

    post(newsletter, email="ANA@example.com", first_name="Someone else")

    assert Profile.objects.get() == known
    known.refresh_from_db()
    assert known.first_name == "Ana"
    assert Subscription.objects.get().profile == known


def test_resubmitting_never_downgrades_a_confirmed_subscription(
    post, confirmed_news, make_profile, mailoutbox
):
    profile = make_profile(email="ana@example.com")
    Subscription.objects.create(
        profile=profile, service=confirmed_news, status="subscribed"
    )

    post(confirmed_news)

    assert Subscription.objects.get().status == Subscription.Status.SUBSCRIBED
    assert ledger() == []
    assert mailoutbox == []


def test_the_page_is_the_same_for_a_known_and_an_unknown_address(
    post, confirmed_news, make_profile
):
    profile = make_profile(email="known@example.com")
    Subscription.objects.create(
        profile=profile, service=confirmed_news, status="subscribed"
    )

    known = post(confirmed_news, email="known@example.com")
    unknown = post(confirmed_news, email="new@example.com")

    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content


def test_a_pending_request_is_mailed_again_but_not_within_minutes(
    post, confirmed_news, mailoutbox
):
    post(confirmed_news)
    post(confirmed_news)

    assert len(mailoutbox) == 1
    Subscription.objects.update(confirmation_sent_at=None)

    post(confirmed_news)

    assert len(mailoutbox) == 2
    assert Subscription.objects.get().status == Subscription.Status.PENDING
    assert ledger() == [("subscribe_pending", "landing_page", "email", "deals")]


def test_a_filled_trap_field_shows_success_but_changes_nothing(
    post, newsletter, mailoutbox
):
    response = post(newsletter, website="http://spam.example")

    assert response.status_code == 200
    assert "Subscribed to Weekly news" in response.content.decode()
    assert not Profile.objects.exists()
    assert ledger() == []
    assert mailoutbox == []


def test_a_form_sent_at_once_is_refused(post, newsletter):
    response = post(newsletter, started=form_started_token())

    assert response.status_code == 400
    assert "That was very fast" in response.content.decode()
    assert not Profile.objects.exists()


def test_an_expired_or_forged_form_is_refused_and_served_afresh(post, newsletter):
    stale = form_started_token(at=time.time() - 3 * 24 * 3600)

    for started in (stale, "1700000000:forged", ""):
        response = post(newsletter, started=started)

        assert response.status_code == 400
        body = response.content.decode()
        assert "This form has expired" in body
        assert f'value="{started}"' not in body
    assert not Profile.objects.exists()


def test_missing_fields_are_named_and_nothing_is_saved(client, newsletter):
    response = client.post(url(newsletter), {})

    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter your e-mail address." in body
    assert "Tick the box to agree" in body
    assert not Profile.objects.exists()


def test_a_bad_address_gets_a_plain_message(post, newsletter):
    response = post(newsletter, email="ana@@example")

    assert response.status_code == 400
    assert "Enter a valid e-mail address" in response.content.decode()
    assert not Profile.objects.exists()


def test_very_long_input_is_refused_without_error(post, newsletter):
    response = post(
        newsletter,
        email="a" * 5000 + "@example.com",
        first_name="x" * 100_000,
        website="y" * 10_000,
    )

    assert response.status_code == 400
    body = response.content.decode()
    assert "An e-mail address has at most 254 characters." in body
    assert "Use at most 150 characters." in body
    assert not Profile.objects.exists()


def test_non_utf8_input_is_refused_without_error(client, newsletter):
    body = b"email=%FF%FE%40example.com&agree=on&first_name=\xe9t\xe9"

    response = client.post(
        url(newsletter), body, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert "text/html" in response["Content-Type"]
    assert not Profile.objects.exists()


def test_a_null_character_is_refused(post, newsletter):
    response = post(newsletter, first_name="Ana\x00")

    assert response.status_code == 400
    assert not Profile.objects.exists()


def test_unknown_and_inactive_services_get_a_not_found_page(client, make_service):
    retired = make_service(name="old", is_active=False)
    sms = make_service(name="alerts", channel="sms")

    for name in ("nope", retired.name, sms.name, "x" * 5000):
        response = client.get(reverse("consent:subscribe", args=[name]))

        assert response.status_code == 404
        assert "This subscription is not available" in response.content.decode()


def test_other_methods_get_a_405_page(client, newsletter):
    response = client.put(url(newsletter))

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"
    assert "This action is not possible here" in response.content.decode()


def test_a_get_with_the_fields_in_the_query_changes_nothing(client, newsletter):
    response = client.get(url(newsletter), subscribe_form())

    assert response.status_code == 200
    assert not Profile.objects.exists()
