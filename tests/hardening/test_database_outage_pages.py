"""A database that goes away during a request: 503 "try again", no 500.

Each fault is real: the PostgreSQL backend serving the request is
terminated inside its transaction, or the database refuses connections.
Afterwards the same process, with no restart, serves the next request.
"""

import logging
import threading
import time
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from consent.forms import form_started_token
from consent.links import preferences_url, stop_all_url
from consent.models import ConsentEvent, Profile, Service, Subscription
from tests.hardening.conftest import (
    IS_POSTGRES,
    database_refusing_connections,
    postgres_only,
)
from tests.hardening.forms import profile_form_data

ANA = "ana.outage@example.com"


def path(url: str) -> str:
    return urlsplit(url).path


def change_url(profile: Profile) -> str:
    return reverse("admin:consent_profile_change", args=[profile.pk])


@pytest.fixture
def visitor() -> Client:
    # A 500 must show up as a 500, not as an exception in the test.
    return Client(raise_request_exception=False)


@pytest.fixture
def operator(consent_operator) -> Client:
    browser = Client(raise_request_exception=False)
    browser.force_login(consent_operator)
    return browser


def assert_try_again_page(response) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "Please try again in a moment" in body
    assert "Nothing was changed" in body
    assert "Traceback" not in body


@postgres_only
def test_connection_lost_during_an_operator_opt_out_answers_503_and_writes_nothing(
    operator, make_profile, kill_connection_on_insert
):
    profile = make_profile(email=ANA)
    kill_connection_on_insert("consent_consentevent")

    response = operator.post(
        change_url(profile), profile_form_data(profile, email_opt_out=True)
    )

    assert_try_again_page(response)
    profile.refresh_from_db()
    assert profile.email_opt_out is False
    assert not ConsentEvent.objects.exists()

    again = operator.post(
        change_url(profile), profile_form_data(profile, email_opt_out=True)
    )

    assert again.status_code == 302
    profile.refresh_from_db()
    assert profile.email_opt_out is True
    assert list(ConsentEvent.objects.values_list("action", "channel")) == [
        ("opt_out", "email")
    ]


@postgres_only
def test_connection_lost_during_a_preferences_post_rolls_back_every_switch(
    visitor, make_profile, kill_connection_on_insert
):
    profile = make_profile(email=ANA, language="pt-br")
    url = path(preferences_url(profile))
    visitor.get(url)
    kill_connection_on_insert("consent_consentevent")
    # Every channel refused at once: several updates in one transaction.
    refuse_all = {"no_longer_contact": "on"}

    response = visitor.post(url, refuse_all, HTTP_ACCEPT_LANGUAGE="pt-br")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "Tente de novo em instantes" in response.content.decode()
    profile.refresh_from_db()
    assert profile.no_longer_contact is False
    assert not ConsentEvent.objects.exists()

    again = visitor.post(url, refuse_all)

    assert again.status_code == 200
    profile.refresh_from_db()
    assert profile.no_longer_contact is True
    assert ConsentEvent.objects.filter(profile=profile, action="opt_out").exists()


@postgres_only
def test_connection_lost_during_a_public_subscription_leaves_no_profile_behind(
    visitor, kill_connection_on_insert, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    service = Service.objects.create(name="news", label="News", double_opt_in=True)
    form = {
        "email": ANA,
        "agree": "on",
        "website": "",
        "started": form_started_token(at=time.time() - 60),
    }
    kill_connection_on_insert("consent_subscription")

    response = visitor.post(reverse("consent:subscribe", args=[service.name]), form)

    assert_try_again_page(response)
    assert not Profile.objects.filter(email=ANA).exists()
    assert not Subscription.objects.exists()
    assert not ConsentEvent.objects.exists()


@postgres_only
def test_a_database_refusing_connections_answers_503_until_it_is_back(
    visitor, make_profile, transactional_db
):
    profile = make_profile(email=ANA)
    url = path(stop_all_url(profile))
    assert visitor.get(url).status_code == 200

    with database_refusing_connections():
        during_get = visitor.get(url)
        during_post = visitor.post(url)

    after = visitor.post(url)

    assert_try_again_page(during_get)
    assert_try_again_page(during_post)
    assert after.status_code == 200
    profile.refresh_from_db()
    assert profile.no_longer_contact is True
    assert ConsentEvent.objects.filter(profile=profile).count() == 1


@postgres_only
def test_the_admin_answers_503_while_the_database_is_away_and_recovers(
    operator, transactional_db
):
    changelist = reverse("admin:consent_profile_changelist")

    with database_refusing_connections():
        during = operator.get(changelist)

    assert_try_again_page(during)
    assert operator.get(changelist).status_code == 200


@postgres_only
def test_the_outage_is_logged_without_the_path_token_or_address(
    visitor, make_profile, kill_connection_on_insert, caplog
):
    profile = make_profile(email=ANA)
    url = path(stop_all_url(profile))
    token = url.rstrip("/").rsplit("/", 1)[-1]
    kill_connection_on_insert("consent_consentevent")

    with caplog.at_level(logging.DEBUG):
        response = visitor.post(url)

    assert response.status_code == 503
    outage = [r for r in caplog.records if r.name == "campaign.middleware"]
    assert [r.getMessage() for r in outage] == [
        "database unavailable: POST consent:stop_all answered 503 (OperationalError)"
    ]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert token not in logged
    assert ANA not in logged


@pytest.fixture
def short_lock_wait(transactional_db):
    """Wait one second for a lock, not the configured twenty.

    The answer is the same, only sooner. The connection is reopened to take
    the setting, and again afterwards to drop it.
    """
    options = connection.settings_dict["OPTIONS"]
    configured = options.get("timeout")
    options["timeout"] = 1
    connection.close()
    yield
    options["timeout"] = configured
    connection.close()


@pytest.mark.skipif(
    IS_POSTGRES,
    reason="SQLite's own failure: a write lock held elsewhere; PostgreSQL "
    "waits on a lock instead, and its run injects lost connections above",
)
def test_a_locked_sqlite_database_answers_503_and_the_next_request_succeeds(
    short_lock_wait, visitor, make_profile
):
    profile = make_profile(email=ANA)
    url = path(stop_all_url(profile))
    locked = threading.Event()
    release = threading.Event()

    def hold_the_write_lock() -> None:
        # Another process's long write transaction on the same database.
        with connection.cursor() as cursor:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("UPDATE consent_profile SET first_name = first_name")
            locked.set()
            release.wait(30)
            cursor.execute("ROLLBACK")
        connection.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    try:
        assert locked.wait(30)
        during = visitor.post(url)
        in_portuguese = visitor.post(url, HTTP_ACCEPT_LANGUAGE="pt-br")
    finally:
        release.set()
        holder.join(30)

    after = visitor.post(url)

    assert_try_again_page(during)
    assert in_portuguese.status_code == 503
    assert "Tente de novo em instantes" in in_portuguese.content.decode()
    assert after.status_code == 200
    profile.refresh_from_db()
    assert profile.no_longer_contact is True
    assert ConsentEvent.objects.filter(profile=profile).count() == 1
