"""Signed links: consent.links builds them, consent.tokens reads them."""

import time

import pytest
from django.core import signing

from consent.links import (
    confirm_url,
    preferences_url,
    stop_all_url,
    subscribe_url,
    unsubscribe_url,
)
from consent.tokens import BadToken, ExpiredToken, Purpose, make_token, read_token
from tests.consent.landing_support import path

pytestmark = pytest.mark.django_db


def token_of(url: str) -> str:
    return path(url).rstrip("/").rsplit("/", 1)[-1]


def test_links_are_absolute_on_the_site_url(settings, make_profile, newsletter):
    settings.SITE_URL = "https://consent.example.org"
    profile = make_profile()

    for url in (
        unsubscribe_url(profile, service=newsletter),
        stop_all_url(profile),
        preferences_url(profile),
        confirm_url(profile, newsletter),
        subscribe_url(newsletter),
    ):
        assert url.startswith("https://consent.example.org/p/")


def test_a_link_names_the_profile_by_public_id_only(make_profile, newsletter):
    profile = make_profile()

    claims = read_token(
        Purpose.UNSUBSCRIBE, token_of(unsubscribe_url(profile, service=newsletter))
    )

    assert claims.public_id == profile.public_id
    assert (claims.service_id, claims.channel) == (newsletter.pk, "email")
    assert profile.public_id.hex in unsubscribe_url(profile)


def test_a_link_without_a_service_carries_its_channel(make_profile):
    profile = make_profile()

    claims = read_token(
        Purpose.UNSUBSCRIBE, token_of(unsubscribe_url(profile, channel="sms"))
    )

    assert (claims.service_id, claims.channel) == (None, "sms")


def test_a_token_is_good_for_its_own_purpose_only(make_profile):
    profile = make_profile()
    token = token_of(stop_all_url(profile))

    assert read_token(Purpose.STOP_ALL, token).public_id == profile.public_id
    for other in (Purpose.UNSUBSCRIBE, Purpose.PREFERENCES, Purpose.CONFIRM):
        with pytest.raises(BadToken):
            read_token(other, token)


def test_an_altered_token_cannot_reach_someone_else(make_profile):
    ana, bea = make_profile(), make_profile()
    token = token_of(preferences_url(ana))
    forged = token.replace(ana.public_id.hex, bea.public_id.hex)

    with pytest.raises(BadToken):
        read_token(Purpose.PREFERENCES, forged)


@pytest.mark.parametrize(
    "broken", ["", "x", "a" * 5000, "not:a:token", "\udcff", "..:sig"]
)
def test_malformed_tokens_are_refused(broken):
    with pytest.raises(BadToken):
        read_token(Purpose.UNSUBSCRIBE, broken)


def test_unsubscribe_links_never_expire(make_profile, monkeypatch):
    profile = make_profile()
    token = token_of(unsubscribe_url(profile))
    ten_years = 10 * 365 * 24 * 3600
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + ten_years)

    assert read_token(Purpose.UNSUBSCRIBE, token).public_id == profile.public_id


def test_confirmation_links_expire_after_a_week(make_profile, newsletter, monkeypatch):
    profile = make_profile()
    token = token_of(confirm_url(profile, newsletter))
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 8 * 24 * 3600)

    with pytest.raises(ExpiredToken):
        read_token(Purpose.CONFIRM, token)


def test_links_survive_a_rotated_secret_key(settings, make_profile):
    profile = make_profile()
    old_key = settings.SECRET_KEY
    token = token_of(stop_all_url(profile))

    settings.SECRET_KEY = "a-brand-new-secret-key-for-this-test-only-0123456789"
    with pytest.raises(BadToken):
        read_token(Purpose.STOP_ALL, token)

    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert read_token(Purpose.STOP_ALL, token).public_id == profile.public_id


def test_a_token_signed_with_another_salt_is_refused(make_profile):
    profile = make_profile()
    value = f"{profile.public_id.hex}..email"
    foreign = signing.Signer(salt="somewhere.else").sign(value)

    with pytest.raises(BadToken):
        read_token(Purpose.UNSUBSCRIBE, foreign)
    assert read_token(
        Purpose.UNSUBSCRIBE,
        make_token(Purpose.UNSUBSCRIBE, public_id=profile.public_id, channel="email"),
    )
