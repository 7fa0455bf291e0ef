import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from consent.models import ConsentEvent, Profile

CHANGELIST = reverse("admin:consent_profile_changelist")


def change_url(profile: Profile) -> str:
    return reverse("admin:consent_profile_change", args=[profile.pk])


def form_data(profile: Profile, **changes) -> dict:
    """The change form as the browser would post it, with some changes."""
    data = {
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "language": profile.language,
        "email": profile.email,
        "mobile_phone": profile.mobile_phone,
        "postal_address": profile.postal_address,
        "external_id": profile.external_id or "",
        "consent_note": "",
    }
    for field in (
        "no_longer_contact",
        "email_opt_out",
        "sms_opt_out",
        "phone_opt_out",
        "direct_mail_opt_out",
        "push_opt_out",
    ):
        if getattr(profile, field):
            data[field] = "on"
    for key, value in changes.items():
        if value is False:
            data.pop(key, None)
        else:
            data[key] = "on" if value is True else value
    return data


@pytest.fixture
def operator_client(client, consent_operator):
    client.force_login(consent_operator)
    return client


@pytest.fixture
def viewer_client(client, consent_viewer):
    client.force_login(consent_viewer)
    return client


def test_profile_list_shows_consent_at_a_glance(operator_client, make_profile):
    make_profile(first_name="Stop", email="stop@example.com", no_longer_contact=True)
    make_profile(first_name="Half", email="half@example.com", sms_opt_out=True)
    make_profile(first_name="Open", email="open@example.com")

    page = operator_client.get(CHANGELIST).content.decode()

    assert "No longer contact" in page
    assert "SMS ✕" in page
    assert "Contactable" in page


@pytest.mark.parametrize(
    ("term", "found"),
    [
        ("  ANA@example.com ", "Ana"),
        ("(415) 555-0100", "Bea"),
        ("silva", "Ana"),
        ("bea costa", "Bea"),
        ("ext-42", "Bea"),
    ],
)
def test_search_finds_profiles_by_address_name_or_external_id(
    operator_client, make_profile, term, found
):
    make_profile(first_name="Ana", last_name="Silva", email="ana@example.com")
    make_profile(
        first_name="Bea",
        last_name="Costa",
        mobile_phone="+14155550100",
        external_id="ext-42",
    )

    response = operator_client.get(CHANGELIST, {"q": term})

    names = [row.first_name for row in response.context["cl"].result_list]
    assert names == [found]


def test_search_for_an_invalid_address_finds_nothing_without_error(
    operator_client, make_profile
):
    make_profile(email="ana@example.com")

    response = operator_client.get(CHANGELIST, {"q": "ana@@example"})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []


def test_filter_by_channel_opt_out(operator_client, make_profile):
    make_profile(first_name="Out", email_opt_out=True)
    make_profile(first_name="In")

    response = operator_client.get(CHANGELIST, {"email_opt_out__exact": "1"})

    assert [p.first_name for p in response.context["cl"].result_list] == ["Out"]


def test_operator_opts_a_profile_out_of_email_with_a_note(
    operator_client, consent_operator, make_profile
):
    profile = make_profile(email="ana@example.com")

    response = operator_client.post(
        change_url(profile),
        form_data(profile, email_opt_out=True, consent_note="Asked by phone"),
    )

    assert response.status_code == 302
    profile.refresh_from_db()
    assert profile.email_opt_out is True
    event = ConsentEvent.objects.get(profile=profile)
    assert (event.action, event.channel, event.source) == (
        "opt_out",
        "email",
        "operator",
    )
    assert event.operator == consent_operator
    assert event.note == "Asked by phone"
    history = operator_client.get(change_url(profile)).content.decode()
    assert "Asked by phone" in history
    assert "Opted out" in history


def test_editing_a_name_writes_no_consent_event(operator_client, make_profile):
    profile = make_profile(email="ana@example.com", sms_opt_out=True)

    operator_client.post(change_url(profile), form_data(profile, first_name="Anne"))

    profile.refresh_from_db()
    assert profile.first_name == "Anne"
    assert profile.sms_opt_out is True
    assert not ConsentEvent.objects.exists()


def test_an_invalid_email_is_refused_and_nothing_changes(operator_client, make_profile):
    profile = make_profile(email="ana@example.com")

    response = operator_client.post(
        change_url(profile), form_data(profile, email="not an email", push_opt_out=True)
    )

    assert response.status_code == 200
    assert "not a valid e-mail address" in response.content.decode()
    profile.refresh_from_db()
    assert profile.email == "ana@example.com"
    assert profile.push_opt_out is False
    assert not ConsentEvent.objects.exists()


def test_addresses_entered_by_an_operator_are_normalised(operator_client):
    response = operator_client.post(
        reverse("admin:consent_profile_add"),
        {
            "first_name": "Ana",
            "last_name": "Silva",
            "language": "pt-br",
            "email": " Ana@Example.COM",
            "mobile_phone": "(415) 555-0101",
            "no_longer_contact": "on",
        },
    )

    assert response.status_code == 302
    profile = Profile.objects.get()
    assert (profile.email, profile.mobile_phone) == (
        "ana@example.com",
        "+14155550101",
    )
    assert profile.no_longer_contact is True
    assert ConsentEvent.objects.get(profile=profile).action == "opt_out"


def test_a_viewer_sees_consent_but_cannot_change_it(viewer_client, make_profile):
    profile = make_profile(email="ana@example.com")

    page = viewer_client.get(change_url(profile))
    attempt = viewer_client.post(
        change_url(profile), form_data(profile, email_opt_out=True)
    )

    assert page.status_code == 200
    assert 'name="email_opt_out"' not in page.content.decode()
    assert attempt.status_code == 403
    profile.refresh_from_db()
    assert profile.email_opt_out is False


def test_only_superusers_may_delete_profiles(
    client, consent_operator, superuser, make_profile
):
    profile = make_profile()
    delete_url = reverse("admin:consent_profile_delete", args=[profile.pk])

    client.force_login(consent_operator)
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Profile.objects.filter(pk=profile.pk).exists()

    client.force_login(superuser)
    assert client.post(delete_url, {"post": "yes"}).status_code == 302
    assert not Profile.objects.filter(pk=profile.pk).exists()
    # Deleting is erasing: the ledger says so, without naming the person.
    erased = ConsentEvent.objects.get(action="erase")
    assert erased.profile is None
    assert erased.operator == superuser


def test_nobody_can_add_change_or_delete_consent_events(
    client, superuser, make_profile
):
    profile = make_profile()
    client.force_login(superuser)
    client.post(change_url(profile), form_data(profile, sms_opt_out=True))
    event = ConsentEvent.objects.get()

    add = client.get(reverse("admin:consent_consentevent_add"))
    delete = client.post(
        reverse("admin:consent_consentevent_delete", args=[event.pk]), {"post": "yes"}
    )
    change = client.post(
        reverse("admin:consent_consentevent_change", args=[event.pk]),
        {"note": "rewritten", "action": "opt_in"},
    )

    assert add.status_code == 403
    assert delete.status_code == 403
    assert change.status_code == 403
    event.refresh_from_db()
    assert (event.action, event.note) == ("opt_out", "")


def test_shared_address_warning_names_the_other_contactable_profile(
    operator_client, make_profile
):
    profile = make_profile(first_name="Ana", email="family@example.com")
    sibling = make_profile(first_name="Rui", email="family@example.com")
    make_profile(first_name="Gone", email="family@example.com", no_longer_contact=True)

    page = operator_client.get(change_url(profile)).content.decode()

    assert "Another profile shares this e-mail address" in page
    assert f"(#{sibling.pk})" in page
    assert "Gone" not in page


def test_no_warning_when_the_sharing_profile_opted_out_of_the_channel(
    operator_client, make_profile
):
    profile = make_profile(email="family@example.com")
    make_profile(email="family@example.com", email_opt_out=True)

    page = operator_client.get(change_url(profile)).content.decode()

    assert "Another profile shares" not in page


def run_action(client, action: str, profiles, **extra):
    return client.post(
        CHANGELIST,
        {
            "action": action,
            ACTION_CHECKBOX_NAME: [p.pk for p in profiles],
            **extra,
        },
        follow=True,
    )


def test_bulk_opt_out_of_everything_reports_how_many_changed(
    operator_client, make_profile
):
    profiles = [make_profile(), make_profile(), make_profile(no_longer_contact=True)]

    response = run_action(operator_client, "opt_out_of_everything", profiles)

    assert "2 profiles opted out of everything. 1 already was." in (
        response.content.decode()
    )
    assert Profile.objects.filter(no_longer_contact=True).count() == 3
    assert ConsentEvent.objects.filter(action="opt_out", channel="").count() == 2


def test_bulk_opt_out_of_one_channel_asks_which_channel_first(
    operator_client, make_profile
):
    profiles = [make_profile(), make_profile()]

    question = run_action(operator_client, "opt_out_of_channel", profiles)
    answer = run_action(
        operator_client,
        "opt_out_of_channel",
        profiles,
        apply="1",
        channel="sms",
        note="Carrier complaint",
    )

    assert "Opt out of one channel" in question.content.decode()
    assert not ConsentEvent.objects.filter(note="x").exists()
    assert "2 profiles opted out of SMS" in answer.content.decode()
    assert set(ConsentEvent.objects.values_list("channel", "note", "source")) == {
        ("sms", "Carrier complaint", "operator")
    }


def test_bulk_opt_back_in_lifts_no_longer_contact(operator_client, make_profile):
    profiles = [make_profile(no_longer_contact=True), make_profile()]

    run_action(
        operator_client, "opt_back_in", profiles, apply="1", channel="everything"
    )

    assert not Profile.objects.filter(no_longer_contact=True).exists()
    assert list(ConsentEvent.objects.values_list("action", "profile_id")) == [
        ("opt_in", profiles[0].pk)
    ]


def test_a_viewer_cannot_run_bulk_consent_actions(viewer_client, make_profile):
    profile = make_profile()

    page = viewer_client.get(CHANGELIST).content.decode()
    run_action(viewer_client, "opt_out_of_everything", [profile])

    assert "opt_out_of_everything" not in page
    profile.refresh_from_db()
    assert profile.no_longer_contact is False
    assert not ConsentEvent.objects.exists()


def test_profile_list_query_count_does_not_grow_with_rows(
    operator_client, make_profile, django_assert_max_num_queries
):
    for _ in range(30):
        make_profile(email_opt_out=True)

    with django_assert_max_num_queries(8):
        operator_client.get(CHANGELIST)
