"""A recipient's link reaches that recipient only.

Every character of a genuine link is altered in turn, on every landing page
and with every method; each altered link is refused with a clear page and
changes nothing. A link made for one profile never reads or changes
another, and a link made for one purpose opens no other page.
"""

import string
from itertools import permutations
from urllib.parse import quote, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from consent.links import (
    confirm_url,
    preferences_url,
    stop_all_url,
    unsubscribe_url,
)
from consent.models import ConsentEvent, Profile, Service, Subscription

# Characters a signed token is made of; an alteration uses one of them so
# it stays a plausible token rather than a malformed URL.
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_:."

PAGES = {
    "unsubscribe": lambda profile, service: unsubscribe_url(profile, service=service),
    "stop_all": lambda profile, service: stop_all_url(profile),
    "preferences": lambda profile, service: preferences_url(profile),
    "confirm": lambda profile, service: confirm_url(profile, service),
}


@pytest.fixture
def visitor() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def news(db) -> Service:
    return Service.objects.create(name="news", label="News")


@pytest.fixture
def ana(make_profile, news) -> Profile:
    profile = make_profile(first_name="Ana", email="ana.token@example.com")
    Subscription.objects.create(profile=profile, service=news, status="pending")
    return profile


@pytest.fixture
def bea(make_profile, news) -> Profile:
    profile = make_profile(first_name="Bea", email="bea.token@example.com")
    Subscription.objects.create(profile=profile, service=news, status="subscribed")
    return profile


def token_of(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def with_token(url: str, token: str) -> str:
    path = urlsplit(url).path.rstrip("/")
    return f"{path.rsplit('/', 1)[0]}/{quote(token, safe='')}/"


def alterations(token: str):
    """Each position of the token replaced by another character, and cut."""
    for position, current in enumerate(token):
        replacement = TOKEN_ALPHABET[
            (TOKEN_ALPHABET.index(current) + 17) % len(TOKEN_ALPHABET)
        ]
        yield token[:position] + replacement + token[position + 1 :]
    yield token[:-1]
    yield token + "A"


def state() -> tuple:
    return (
        list(Profile.objects.order_by("pk").values()),
        list(Subscription.objects.order_by("pk").values("pk", "status")),
        ConsentEvent.objects.count(),
    )


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_altered_character_of_a_link_is_refused_and_changes_nothing(
    visitor, ana, news, page
):
    genuine = PAGES[page](ana, news)
    before = state()
    tried = 0

    for altered in alterations(token_of(genuine)):
        url = with_token(genuine, altered)
        for response in (
            visitor.get(url),
            visitor.post(url, {"scope": "everything", "no_longer_contact": "on"}),
        ):
            assert response.status_code in (400, 404), (altered, response)
            assert "Traceback" not in response.content.decode()
            tried += 1

    assert tried >= 2 * len(token_of(genuine))
    assert state() == before


def test_every_altered_character_of_a_one_click_link_is_refused(visitor, ana, news):
    genuine = unsubscribe_url(ana, service=news)
    before = state()

    for altered in alterations(token_of(genuine)):
        response = visitor.post(
            with_token(genuine, altered), {"List-Unsubscribe": "One-Click"}
        )
        assert response.status_code in (400, 404)
        assert response.content.decode().strip() == "This link is not valid."

    assert state() == before


def test_a_link_for_one_profile_never_changes_another(visitor, ana, bea, news):
    bea_before = Profile.objects.filter(pk=bea.pk).values().get()

    for make in PAGES.values():
        url = urlsplit(make(ana, news)).path
        visitor.post(url, {"scope": "everything", "no_longer_contact": "on"})
    visitor.post(
        urlsplit(unsubscribe_url(ana, service=news)).path,
        {"List-Unsubscribe": "One-Click"},
    )

    assert Profile.objects.filter(pk=bea.pk).values().get() == bea_before
    assert Subscription.objects.get(profile=bea).status == "subscribed"
    assert not ConsentEvent.objects.filter(profile=bea).exists()
    assert ConsentEvent.objects.filter(profile=ana).exists()


def test_a_page_shows_only_the_linked_person(visitor, ana, bea, news):
    page = visitor.get(urlsplit(preferences_url(ana)).path).content.decode()

    assert "bea.token@example.com" not in page
    assert "Bea" not in page


@pytest.mark.parametrize(("made_for", "opened_at"), permutations(sorted(PAGES), 2))
def test_a_link_made_for_one_page_opens_no_other(
    visitor, ana, news, made_for, opened_at
):
    token = token_of(PAGES[made_for](ana, news))
    target = with_token(PAGES[opened_at](ana, news), token)
    before = state()

    response = visitor.post(target, {"scope": "everything"})

    assert response.status_code == 400
    assert state() == before


def test_a_database_id_in_place_of_a_token_is_refused(visitor, ana):
    before = state()

    for url in (
        reverse("consent:preferences", args=[str(ana.pk)]),
        reverse("consent:stop_all", args=[str(ana.public_id)]),
        reverse("consent:stop_all", args=[ana.public_id.hex]),
    ):
        assert visitor.post(url).status_code == 400

    assert state() == before
