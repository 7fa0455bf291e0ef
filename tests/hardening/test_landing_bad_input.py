"""The public landing pages against generated input: a clear page, never a 500.

Tokens, service names and form bodies are generated; whatever arrives, the
answer is the page (200) or a refusal in the 4xx range that says what is
wrong, and a refusal changes nothing.
"""

import time
from urllib.parse import quote, urlsplit

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from consent.forms import form_started_token
from consent.links import preferences_url, stop_all_url, unsubscribe_url
from consent.models import Channel, ConsentEvent, Profile, Service, Subscription

HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
LANDING_PAGES = ["unsubscribe", "stop_all", "preferences", "confirm"]

texts = st.one_of(
    st.text(max_size=50),
    st.text(max_size=500),
    st.text(alphabet="\x00\r\n<>\"'&%/:.", max_size=20),
    st.sampled_from(["on", "off", "1", "", "One-Click", "everything", "channel"]),
)
# What a form body may hold: known field names, unknown ones, odd values.
bodies = st.dictionaries(
    st.one_of(
        st.sampled_from(
            [
                "email",
                "first_name",
                "last_name",
                "agree",
                "website",
                "started",
                "scope",
                "no_longer_contact",
                "List-Unsubscribe",
                *(f"channel_{channel}" for channel in Channel.values),
                "service_1",
                "service_999999",
            ]
        ),
        st.text(min_size=1, max_size=20),
    ),
    texts,
    max_size=10,
)


@pytest.fixture
def visitor() -> Client:
    return Client(raise_request_exception=False)


@pytest.fixture
def news(db) -> Service:
    return Service.objects.create(name="news", label="News", double_opt_in=True)


@pytest.fixture
def ana(make_profile, news) -> Profile:
    profile = make_profile(first_name="Ana", email="ana.landing@example.com")
    Subscription.objects.create(profile=profile, service=news, status="subscribed")
    return profile


@pytest.fixture(autouse=True)
def mail_in_memory(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def state() -> tuple:
    return (
        list(Profile.objects.order_by("pk").values()),
        list(Subscription.objects.order_by("pk").values("pk", "status")),
        ConsentEvent.objects.count(),
    )


def assert_clear_answer(response, *, allowed=(200, 400, 404, 405)) -> None:
    assert response.status_code in allowed, response.status_code
    body = response.content.decode()
    assert "Traceback" not in body
    assert "Server Error" not in body
    event(f"status {response.status_code}")


@HYPOTHESIS
@given(page=st.sampled_from(LANDING_PAGES), token=st.text(min_size=1, max_size=300))
def test_any_token_on_any_page_is_refused_without_a_change(visitor, ana, page, token):
    url = reverse(f"consent:{page}", args=["x"])[: -len("x/")] + quote(token, safe="")
    before = state()

    for response in (
        visitor.get(url + "/"),
        visitor.post(url + "/", {"scope": "everything", "no_longer_contact": "on"}),
        visitor.post(url + "/", {"List-Unsubscribe": "One-Click"}),
    ):
        assert_clear_answer(response, allowed=(400, 404))

    assert state() == before


@HYPOTHESIS
@given(name=st.text(min_size=1, max_size=200), body=bodies)
def test_any_service_name_on_the_subscribe_page_gets_a_clear_page(
    visitor, news, name, body
):
    url = reverse("consent:subscribe", args=["x"])[: -len("x/")] + quote(name, safe="")
    before = state()

    assert_clear_answer(visitor.get(url + "/"))
    response = visitor.post(url + "/", body)

    assert_clear_answer(response)
    if name != news.name:
        assert state() == before


@HYPOTHESIS
@given(
    body=bodies,
    email=st.one_of(st.emails(), texts),
    agree=st.sampled_from(["on", "", "yes"]),
)
def test_any_subscribe_form_subscribes_or_is_refused_without_a_change(
    visitor, news, body, email, agree
):
    form = {
        **body,
        "email": email,
        "agree": agree,
        "started": form_started_token(at=time.time() - 60),
    }
    with transaction.atomic():
        before = state()

        response = visitor.post(reverse("consent:subscribe", args=[news.name]), form)

        assert_clear_answer(response, allowed=(200, 400))
        if response.status_code == 400:
            assert state() == before
            assert 'class="invalid-feedback' in response.content.decode() or (
                "alert" in response.content.decode()
            )
        transaction.set_rollback(True)


@HYPOTHESIS
@given(body=bodies)
def test_any_preferences_form_is_saved_or_refused_without_a_change(
    visitor, ana, news, body
):
    url = urlsplit(preferences_url(ana)).path
    with transaction.atomic():
        before = state()

        response = visitor.post(url, body)

        assert_clear_answer(response, allowed=(200, 400))
        if response.status_code == 400:
            assert state() == before
        transaction.set_rollback(True)


@HYPOTHESIS
@given(body=bodies, page=st.sampled_from(["unsubscribe", "stop_all"]))
def test_any_body_posted_to_the_stop_pages_gets_a_clear_page(
    visitor, ana, news, body, page
):
    if page == "unsubscribe":
        url = urlsplit(unsubscribe_url(ana, service=news)).path
    else:
        url = urlsplit(stop_all_url(ana)).path
    with transaction.atomic():
        before = state()

        response = visitor.post(url, body)

        assert_clear_answer(response, allowed=(200, 400))
        if response.status_code == 400:
            assert state() == before
        transaction.set_rollback(True)


@HYPOTHESIS
@given(
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
            "application/json",
            "text/plain",
        ]
    ),
    raw=st.binary(max_size=400),
)
def test_any_raw_body_posted_to_a_landing_page_gets_a_clear_answer(
    visitor, ana, news, content_type, raw
):
    url = urlsplit(unsubscribe_url(ana, service=news)).path
    with transaction.atomic():
        response = visitor.generic("POST", url, raw, content_type=content_type)

        assert_clear_answer(response)
        transaction.set_rollback(True)
