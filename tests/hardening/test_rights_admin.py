"""Data-rights actions in the admin: operators export, superusers erase."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from consent.models import ConsentEvent, Profile
from tests.hardening.rights_support import ANA_EMAIL, person_with_history

CHANGELIST = reverse("admin:consent_profile_changelist")


@pytest.fixture
def ana(db, settings) -> Profile:
    return person_with_history(settings)[0]


def logged_in(user) -> Client:
    browser = Client(raise_request_exception=False)
    browser.force_login(user)
    return browser


def run_action(browser: Client, action: str, profiles, **extra):
    return browser.post(
        CHANGELIST,
        {
            "action": action,
            "_selected_action": [str(p.pk) for p in profiles],
            "index": "0",
            **extra,
        },
    )


def offered_actions(browser: Client) -> str:
    return browser.get(CHANGELIST).content.decode()


def test_an_operator_downloads_one_persons_data_as_json(ana, consent_operator):
    response = run_action(logged_in(consent_operator), "export_personal_data", [ana])

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="profile-{ana.public_id}.json"'
    )
    document = json.loads(response.content)
    assert document["profile"]["email"] == ANA_EMAIL
    assert len(document["consent_history"]) == 2


def test_exporting_several_profiles_gives_one_document_listing_each(
    ana, consent_operator
):
    bea = Profile.objects.get(first_name="Bea")

    response = run_action(
        logged_in(consent_operator), "export_personal_data", [ana, bea]
    )

    profiles = json.loads(response.content)["profiles"]
    assert [p["profile"]["first_name"] for p in profiles] == ["Ana", "Bea"]


def test_a_viewer_is_not_offered_the_export_and_cannot_post_it(ana, consent_viewer):
    viewer = logged_in(consent_viewer)

    assert "export_personal_data" not in offered_actions(viewer)
    response = run_action(viewer, "export_personal_data", [ana])

    assert response["Content-Type"].startswith("text/html")
    assert not response.has_header("Content-Disposition")


def test_only_a_superuser_is_offered_erasure(ana, consent_operator, superuser):
    assert "erase_personal_data" not in offered_actions(logged_in(consent_operator))
    assert "erase_personal_data" in offered_actions(logged_in(superuser))


def test_an_operator_posting_erasure_erases_nothing(ana, consent_operator):
    run_action(
        logged_in(consent_operator), "erase_personal_data", [ana], confirm="erase"
    )

    assert Profile.objects.filter(pk=ana.pk).exists()
    assert not ConsentEvent.objects.filter(action="erase").exists()


def test_erasure_asks_for_confirmation_showing_what_will_go(ana, superuser):
    response = run_action(logged_in(superuser), "erase_personal_data", [ana])

    page = response.content.decode()
    assert response.status_code == 200
    assert "cannot be undone" in page
    assert "1 subscriptions and 1 delivery records" in page
    assert Profile.objects.filter(pk=ana.pk).exists()


def test_a_confirmed_erasure_deletes_the_person_and_records_it(ana, superuser):
    browser = logged_in(superuser)

    response = browser.post(
        CHANGELIST,
        {
            "action": "erase_personal_data",
            "_selected_action": [str(ana.pk)],
            "confirm": "erase",
            "note": "request by e-mail",
        },
    )

    assert response.status_code == 302
    assert not Profile.objects.filter(pk=ana.pk).exists()
    erasure = ConsentEvent.objects.get(action="erase")
    assert erasure.operator == superuser
    assert erasure.note.endswith("request by e-mail")
    messages = browser.get(response["Location"]).content.decode()
    assert "1 profile erased" in messages


def test_more_than_twenty_profiles_at_once_are_refused(db, consent_operator):
    many = Profile.objects.bulk_create(
        Profile(first_name=f"P{n}", email=f"p{n}@example.com") for n in range(21)
    )

    browser = logged_in(consent_operator)
    response = run_action(browser, "export_personal_data", many)

    assert response.status_code == 302
    page = browser.get(response["Location"]).content.decode()
    assert "Select at most 20 profiles" in page
