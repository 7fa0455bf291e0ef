"""Every form needs its CSRF token, except the RFC 8058 one-click POST.

A browser that enforces CSRF checks posts each form twice: without the
token (refused with 403, nothing changed), then as the page served it
(accepted). The one-click endpoint, which mailbox providers call without a
cookie, works without one.
"""

import re
import time
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from consent.forms import form_started_token
from consent.links import (
    confirm_url,
    preferences_url,
    stop_all_url,
    unsubscribe_url,
)
from consent.models import ConsentEvent, Profile, Service, Subscription
from tests.hardening.forms import profile_form_data

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def mail_in_memory(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def news(db) -> Service:
    return Service.objects.create(name="news", label="News", double_opt_in=True)


@pytest.fixture
def ana(make_profile, news) -> Profile:
    profile = make_profile(first_name="Ana", email="ana.csrf@example.com")
    Subscription.objects.create(profile=profile, service=news, status="pending")
    return profile


def strict_browser() -> Client:
    return Client(enforce_csrf_checks=True, raise_request_exception=False)


def state() -> tuple:
    return (
        list(Profile.objects.order_by("pk").values()),
        list(Subscription.objects.order_by("pk").values("pk", "status")),
        ConsentEvent.objects.count(),
    )


def token_from(browser: Client, path: str) -> str:
    page = browser.get(path)
    assert page.status_code == 200, (path, page.status_code)
    found = TOKEN.search(page.content.decode())
    assert found, f"{path} serves no CSRF token"
    return found.group(1)


def landing_forms(ana: Profile, news: Service) -> dict[str, tuple[str, dict]]:
    """Each public form: its page and what a person posts on it."""
    return {
        "subscribe": (
            reverse("consent:subscribe", args=[news.name]),
            {
                "email": "new.person@example.com",
                "agree": "on",
                "started": form_started_token(at=time.time() - 60),
            },
        ),
        "confirm": (urlsplit(confirm_url(ana, news)).path, {}),
        "unsubscribe": (
            urlsplit(unsubscribe_url(ana, service=news)).path,
            {"scope": "service"},
        ),
        "stop_all": (urlsplit(stop_all_url(ana)).path, {}),
        "preferences": (
            urlsplit(preferences_url(ana)).path,
            {"no_longer_contact": "on"},
        ),
    }


@pytest.mark.parametrize(
    "form", ["subscribe", "confirm", "unsubscribe", "stop_all", "preferences"]
)
def test_a_landing_form_without_its_token_is_refused_and_changes_nothing(
    ana, news, form
):
    path, data = landing_forms(ana, news)[form]
    browser = strict_browser()
    before = state()

    without_cookie = browser.post(path, data)
    browser.get(path)
    with_cookie_only = browser.post(path, data)

    assert without_cookie.status_code == 403
    assert with_cookie_only.status_code == 403
    assert "Please send the form again" in with_cookie_only.content.decode()
    assert state() == before


@pytest.mark.parametrize(
    "form", ["subscribe", "confirm", "unsubscribe", "stop_all", "preferences"]
)
def test_a_landing_form_with_its_token_is_accepted(ana, news, form):
    path, data = landing_forms(ana, news)[form]
    browser = strict_browser()
    before = state()

    response = browser.post(
        path, {**data, "csrfmiddlewaretoken": token_from(browser, path)}
    )

    assert response.status_code == 200
    assert state() != before


def test_the_one_click_post_needs_no_token(ana, news):
    browser = strict_browser()

    response = browser.post(
        urlsplit(unsubscribe_url(ana, service=news)).path,
        {"List-Unsubscribe": "One-Click"},
    )

    assert response.status_code == 200
    assert Subscription.objects.get(profile=ana).status == "unsubscribed"


def test_the_admin_login_needs_its_token(db, consent_operator):
    browser = strict_browser()
    login = reverse("admin:login")
    credentials = {"username": "consent-operator", "password": "correct-horse-battery"}

    refused = browser.post(login, credentials)
    accepted = browser.post(
        login, {**credentials, "csrfmiddlewaretoken": token_from(browser, login)}
    )

    assert refused.status_code == 403
    assert accepted.status_code == 302


def test_admin_forms_and_actions_need_their_token(ana, consent_operator):
    browser = strict_browser()
    browser.force_login(consent_operator)
    change = reverse("admin:consent_profile_change", args=[ana.pk])
    changelist = reverse("admin:consent_profile_changelist")
    opt_out = profile_form_data(ana, email_opt_out=True)
    action = {
        "action": "opt_out_of_everything",
        "_selected_action": [str(ana.pk)],
        "index": "0",
    }
    before = state()

    refused = [browser.post(change, opt_out), browser.post(changelist, action)]

    assert [r.status_code for r in refused] == [403, 403]
    assert state() == before

    token = token_from(browser, change)
    saved = browser.post(change, {**opt_out, "csrfmiddlewaretoken": token})
    acted = browser.post(changelist, {**action, "csrfmiddlewaretoken": token})

    assert [saved.status_code, acted.status_code] == [302, 302]
    ana.refresh_from_db()
    assert ana.email_opt_out and ana.no_longer_contact
