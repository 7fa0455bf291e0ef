"""Refusals of every landing page: bad links, wrong methods, odd input."""

import logging

import pytest
from django.test import Client, RequestFactory

from consent import views
from consent.links import (
    confirm_url,
    preferences_url,
    stop_all_url,
    unsubscribe_url,
)
from consent.models import Profile, Subscription
from tests.consent.landing_support import ledger, path

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(make_profile, newsletter):
    profile = make_profile(email="ana.secret@example.com")
    Subscription.objects.create(
        profile=profile, service=newsletter, status="subscribed"
    )
    return profile


@pytest.fixture
def links(person, newsletter) -> dict[str, str]:
    return {
        "unsubscribe": path(unsubscribe_url(person, service=newsletter)),
        "stop": path(stop_all_url(person)),
        "preferences": path(preferences_url(person)),
        "confirm": path(confirm_url(person, newsletter)),
    }


def token_of(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1]


def assert_unchanged(person) -> None:
    person.refresh_from_db()
    assert not person.no_longer_contact and not person.email_opt_out
    assert Subscription.objects.get(profile=person).status == "subscribed"
    assert ledger() == []


def broken_variants(link: str) -> dict[str, str]:
    token = token_of(link)
    prefix = link[: -len(token) - 1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    return {
        "tampered": f"{prefix}{flipped}/",
        "truncated": f"{prefix}{token[:20]}/",
        "extended": f"{prefix}{token}x/",
        "very long": f"{prefix}{'a' * 5000}/",
        "non-utf8": f"{prefix}%FF%FE{token}/",
        "garbage": f"{prefix}not-a-token/",
    }


@pytest.mark.parametrize("page", ["unsubscribe", "stop", "preferences", "confirm"])
def test_a_broken_link_gets_a_clear_400_page_and_changes_nothing(
    client, person, links, page, caplog
):
    for kind, broken in broken_variants(links[page]).items():
        with caplog.at_level(logging.INFO):
            response = client.post(broken, {"scope": "everything"})

        assert response.status_code == 400, kind
        body = response.content.decode()
        assert "<title>This link does not work</title>" in body, kind
        assert "Traceback" not in body
    assert_unchanged(person)
    assert token_of(links[page]) not in caplog.text
    assert person.public_id.hex not in caplog.text
    assert "ana.secret" not in caplog.text
    assert "landing link refused" in caplog.text


@pytest.mark.parametrize("page", ["unsubscribe", "stop", "preferences", "confirm"])
def test_a_link_of_a_deleted_profile_gets_404(client, person, links, page):
    Subscription.objects.all().delete()
    Profile.objects.filter(pk=person.pk).delete()

    response = client.post(links[page], {"scope": "everything"})

    assert response.status_code == 404
    assert "We could not find you" in response.content.decode()


@pytest.mark.parametrize("page", ["unsubscribe", "stop", "preferences", "confirm"])
def test_a_link_for_another_purpose_is_refused(client, person, links, page):
    other = "stop" if page != "stop" else "preferences"
    swapped = links[page].replace(token_of(links[page]), token_of(links[other]))

    response = client.post(swapped, {"scope": "everything"})

    assert response.status_code == 400
    assert_unchanged(person)


@pytest.mark.parametrize("page", ["unsubscribe", "stop", "preferences", "confirm"])
@pytest.mark.parametrize("method", ["put", "delete", "patch", "options"])
def test_other_methods_get_a_405_page(client, person, links, page, method):
    response = getattr(client, method)(links[page])

    assert response.status_code == 405
    assert "POST" in response["Allow"]
    assert "This action is not possible here" in response.content.decode()
    assert_unchanged(person)


def test_error_pages_speak_the_browser_language(client, links):
    broken = broken_variants(links["stop"])["tampered"]

    response = client.get(broken, HTTP_ACCEPT_LANGUAGE="pt-BR,pt;q=0.9")

    assert response.status_code == 400
    assert response["Content-Language"] == "pt-br"
    assert "Este link não funciona" in response.content.decode()


def test_an_unknown_address_gets_the_not_found_page_in_the_visitor_language(
    client,
):
    response = client.get("/p/nothing-here/", HTTP_ACCEPT_LANGUAGE="pt-br")

    assert response.status_code == 404
    assert "Página não encontrada" in response.content.decode()


def test_a_form_without_its_csrf_cookie_gets_a_page_in_the_visitor_language(
    newsletter,
):
    browser = Client(enforce_csrf_checks=True)

    response = browser.post(
        "/p/subscribe/news/", {"email": "a@example.com"}, HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 403
    assert "Please send the form again" in response.content.decode()
    assert not Profile.objects.filter(email="a@example.com").exists()


def test_a_server_error_page_says_nothing_changed():
    request = RequestFactory().get("/p/anything/")

    response = views.server_error(request)

    assert response.status_code == 500
    assert "Nothing was changed" in response.content.decode()
