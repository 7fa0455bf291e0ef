"""The admin's profile forms against generated input: refused, never a 500.

An operator may paste anything into the add and change forms. Each post is
either saved, with addresses normalised and every consent change in the
ledger, or answered with the form and its errors, having changed nothing.
"""

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from consent.models import ConsentEvent, Profile
from tests.hardening.forms import CONSENT_FIELDS, profile_form_data

HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

anything = st.one_of(
    st.text(max_size=60),
    st.text(max_size=400),
    st.text(alphabet="\x00\x01\x1f\u200b\u202e<>\"'&;=", max_size=20),
    st.sampled_from(["", " ", '=HYPERLINK("http://x")', "<script>x</script>"]),
)
emails = st.one_of(
    st.emails(),
    anything,
    st.sampled_from(
        [
            "  Ana@Example.COM ",
            "ana@@example.com",
            "ana@example",
            "a" * 250 + "@example.com",
            "zoë@exämple.com",
        ]
    ),
)
phones = st.one_of(
    anything,
    st.from_regex(r"\+?[0-9 ()-]{1,25}", fullmatch=True),
    st.sampled_from(["(415) 555-0100", "+55 11 91234-5678", "+999 1", "0" * 40]),
)
languages = st.one_of(st.sampled_from(["en", "pt-br"]), anything)
ticks = st.fixed_dictionaries({field: st.booleans() for field in CONSENT_FIELDS})

# Each field is sometimes sensible, so that forms are saved as well as
# refused and both paths are checked.
sensible = {
    "first_name": st.text(max_size=30),
    "last_name": st.text(max_size=30),
    "language": st.sampled_from(["en", "pt-br"]),
    "email": st.one_of(st.just(""), st.emails()),
    "mobile_phone": st.sampled_from(["", "(415) 555-0100", "+55 11 91234-5678"]),
    "postal_address": st.text(max_size=100),
    "external_id": st.text(max_size=20),
    "consent_note": st.text(max_size=100),
}
odd = {
    "language": languages,
    "email": emails,
    "mobile_phone": phones,
}
form_fields = st.fixed_dictionaries(
    {
        name: st.one_of(good, good, odd.get(name, anything))
        for name, good in sensible.items()
    }
)


@pytest.fixture
def operator(consent_operator) -> Client:
    browser = Client(raise_request_exception=False)
    browser.force_login(consent_operator)
    return browser


def post_form(operator: Client, url: str, data: dict):
    response = operator.post(url, data)
    assert response.status_code in (200, 302), response.status_code
    if response.status_code == 200:
        page = response.content.decode()
        assert "Please correct the error" in page
        assert "Traceback" not in page
        event("refused")
    else:
        event("saved")
    return response


def assert_normalised(profile: Profile) -> None:
    assert profile.email == profile.email.strip().lower()
    assert "\x00" not in profile.first_name + profile.last_name
    if profile.mobile_phone:
        assert profile.mobile_phone.startswith("+")
        assert profile.mobile_phone[1:].isdigit()


@HYPOTHESIS
@given(fields=form_fields, consent=ticks)
@example(
    fields={
        "first_name": "Ana\x00",
        "last_name": "",
        "language": "en",
        "email": "ana@example.com",
        "mobile_phone": "",
        "postal_address": "",
        "external_id": "",
        "consent_note": "",
    },
    consent=dict.fromkeys(CONSENT_FIELDS, True),
)
def test_any_new_profile_form_is_saved_normalised_or_refused_without_a_write(
    operator, fields, consent
):
    data = {**fields, **{k: "on" for k, on in consent.items() if on}}

    with transaction.atomic():
        response = post_form(operator, reverse("admin:consent_profile_add"), data)
        if response.status_code == 302:
            profile = Profile.objects.get()
            assert_normalised(profile)
            ticked = {k for k, on in consent.items() if on}
            assert {f for f in CONSENT_FIELDS if getattr(profile, f)} == ticked
            assert ConsentEvent.objects.filter(profile=profile).count() == len(ticked)
        else:
            assert not Profile.objects.exists()
            assert not ConsentEvent.objects.exists()
        transaction.set_rollback(True)


@HYPOTHESIS
@given(fields=form_fields, consent=ticks)
def test_any_change_of_a_profile_is_saved_normalised_or_changes_nothing(
    operator, make_profile, fields, consent
):
    with transaction.atomic():
        profile = make_profile(
            email="ana@example.com", external_id="ext-1", sms_opt_out=True
        )
        before = Profile.objects.filter(pk=profile.pk).values().get()
        changes = {**fields, **consent}
        data = profile_form_data(profile, **changes)
        url = reverse("admin:consent_profile_change", args=[profile.pk])

        response = post_form(operator, url, data)

        profile.refresh_from_db()
        if response.status_code == 302:
            assert_normalised(profile)
            changed = [f for f in CONSENT_FIELDS if getattr(profile, f) != before[f]]
            assert ConsentEvent.objects.filter(profile=profile).count() == len(changed)
        else:
            assert Profile.objects.filter(pk=profile.pk).values().get() == before
            assert not ConsentEvent.objects.exists()
        transaction.set_rollback(True)


@HYPOTHESIS
@given(term=anything)
def test_any_search_term_answers_a_list(operator, term):
    url = reverse("admin:consent_profile_changelist")

    response = operator.get(url, {"q": term})

    # A NUL character is refused before the search (test_malformed_requests).
    assert response.status_code == (400 if "\x00" in term else 200)


@HYPOTHESIS
@given(
    field=st.sampled_from(["no_longer_contact__exact", "language__exact", "o", "p"]),
    value=anything,
)
def test_any_filter_or_page_parameter_answers_a_page_not_an_error(
    operator, field, value
):
    url = reverse("admin:consent_profile_changelist")

    response = operator.get(url, {field: value})

    # The admin answers a nonsense filter by redirecting to ?e=1.
    assert response.status_code in ((400,) if "\x00" in value else (200, 302))
