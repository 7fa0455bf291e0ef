"""landing_links: every landing page's address for one profile."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from consent.models import Subscription
from tests.consent.landing_support import path

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("landing_links", *args, stdout=out)
    return out.getvalue()


def test_with_no_profiles_it_prints_a_hint_and_succeeds():
    output = run()

    assert "No profiles yet" in output
    assert "seed_demo" in output


def test_with_no_services_it_prints_the_personal_pages_and_a_hint(make_profile):
    make_profile(email="ana@example.com")

    output = run()

    assert "/p/preferences/" in output
    assert "/p/stop/" in output
    assert "No active services yet" in output


def test_every_printed_page_opens(client, make_profile, newsletter, confirmed_news):
    profile = make_profile(email="ana@example.com")
    Subscription.objects.create(
        profile=profile, service=confirmed_news, status="pending"
    )

    pages = json.loads(run("--json"))

    assert pages["profile"] == str(profile.public_id)
    urls = [pages["preferences"], pages["stop_all"], pages["unsubscribe_email"]]
    for service in pages["services"]:
        urls += [service["subscribe"], service["confirm"], service["unsubscribe"]]
    assert {s["name"] for s in pages["services"]} == {"news", "deals"}
    for url in urls:
        assert client.get(path(url)).status_code == 200, url


def test_the_demo_profile_is_the_oldest_with_an_address(make_profile):
    make_profile(email="")
    with_address = make_profile(email="bea@example.com")

    assert json.loads(run("--json"))["profile"] == str(with_address.public_id)


def test_a_profile_can_be_named_by_public_id(make_profile):
    make_profile(email="ana@example.com")
    chosen = make_profile(email="bea@example.com")

    output = run("--profile", str(chosen.public_id))

    assert f"profile #{chosen.pk}" in output
    assert chosen.public_id.hex in output


@pytest.mark.parametrize("bad", ["42", "not-a-uuid", "0" * 500])
def test_a_bad_public_id_is_refused(bad):
    with pytest.raises(CommandError, match="--profile: .* is not a public id"):
        run("--profile", bad)


def test_an_unknown_public_id_is_refused(make_profile):
    make_profile()

    with pytest.raises(CommandError, match="no profile has the public id"):
        run("--profile", "6f1c9f6e-1b7e-4a53-9a3c-2f9f8c3b2a10")
