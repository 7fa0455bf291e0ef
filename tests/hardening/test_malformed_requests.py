"""Requests no browser sends get the 400 page, never a 500 from the database.

PostgreSQL refuses text holding a NUL character, and Django's admin hands
the ids of selected rows to the database unchecked; on PostgreSQL both used
to end in a 500 page. Run on both databases: on SQLite the same requests
must get the same answers.
"""

from urllib.parse import urlsplit

import pytest
from django.contrib import admin
from django.db import models
from django.test import Client
from django.urls import reverse

from consent.links import preferences_url
from consent.models import ConsentEvent, Profile

CHANGELIST = reverse("admin:consent_profile_changelist")


@pytest.fixture
def visitor() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def operator(consent_operator) -> Client:
    browser = Client(raise_request_exception=False)
    browser.force_login(consent_operator)
    return browser


@pytest.mark.parametrize(
    "url",
    [
        "/p/subscribe/news\x00/",
        "/p/preferences/abc\x00def/",
        "/admin/consent/profile/\x00/change/",
    ],
)
def test_a_nul_character_in_the_path_gets_the_400_page(visitor, db, url):
    response = visitor.get(url)

    assert response.status_code == 400
    assert "Something is wrong with this request" in response.content.decode()


def test_the_400_page_speaks_the_browser_language(visitor, db):
    response = visitor.get("/p/subscribe/news\x00/", HTTP_ACCEPT_LANGUAGE="pt-br")

    assert response.status_code == 400
    assert "Há algo errado com este pedido" in response.content.decode()


@pytest.mark.parametrize(
    "query",
    [
        {"q": "Silva\x00"},
        {"language__exact": "\x00"},
        {"no_longer_contact__exact": "1\x00"},
    ],
)
def test_a_nul_character_in_the_query_string_gets_the_400_page(operator, query):
    response = operator.get(CHANGELIST, query)

    assert response.status_code == 400


def test_a_session_cookie_holding_a_nul_is_ignored_not_a_500(visitor, make_profile):
    profile = make_profile(email="ana.cookie@example.com")
    visitor.cookies["sessionid"] = "abcdefghij\x00klmnop"

    admin_page = visitor.get(reverse("admin:index"))
    landing = visitor.get(urlsplit(preferences_url(profile)).path)

    assert admin_page.status_code == 302
    assert "/admin/login/" in admin_page["Location"]
    assert landing.status_code == 200


@pytest.mark.parametrize(
    "selected", [["\x00"], ["abc"], ["1", "2x"], ["１"], ["-1"], [" 1"]]
)
def test_an_admin_action_on_rows_that_are_not_ids_gets_400_and_changes_nothing(
    operator, make_profile, selected
):
    profile = make_profile(email="ana.action@example.com")

    response = operator.post(
        CHANGELIST,
        {
            "action": "opt_out_of_everything",
            "_selected_action": [str(profile.pk), *selected],
            "index": "0",
        },
    )

    assert response.status_code == 400
    profile.refresh_from_db()
    assert profile.no_longer_contact is False
    assert not ConsentEvent.objects.exists()


def test_an_admin_action_on_real_ids_still_works(operator, make_profile):
    profile = make_profile(email="ana.action@example.com")

    response = operator.post(
        CHANGELIST,
        {
            "action": "opt_out_of_everything",
            "_selected_action": [str(profile.pk)],
            "index": "0",
        },
    )

    assert response.status_code == 302
    assert Profile.objects.get(pk=profile.pk).no_longer_contact is True


def test_every_model_in_the_admin_has_an_integer_primary_key():
    # RejectMalformedRequestMiddleware refuses selected row ids that are not
    # numbers; a model with another kind of key would need it to change.
    for model in admin.site._registry:
        assert isinstance(model._meta.pk, models.AutoField | models.BigAutoField), model
