"""Subscriptions in the admin: profile panel, list and bulk actions."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from consent.actions import Origin, subscribe
from consent.models import Profile, Subscription
from tests.consent.landing_support import ledger

pytestmark = pytest.mark.django_db

PROFILES = reverse("admin:consent_profile_changelist")
SUBSCRIPTIONS = reverse("admin:consent_subscription_changelist")


@pytest.fixture
def operator_client(client, consent_operator):
    client.force_login(consent_operator)
    return client


def run_action(client, action: str, profiles, **extra):
    return client.post(
        PROFILES,
        {"action": action, ACTION_CHECKBOX_NAME: [p.pk for p in profiles], **extra},
        follow=True,
    )


def test_the_profile_page_lists_its_subscriptions(
    operator_client, make_profile, newsletter, confirmed_news
):
    profile = make_profile(email="ana@example.com")
    subscribe(profile=profile, service=newsletter, origin=Origin("operator"))
    subscribe(
        profile=profile,
        service=confirmed_news,
        origin=Origin("landing_page"),
        double_opt_in=True,
    )

    response = operator_client.get(
        reverse("admin:consent_profile_change", args=[profile.pk])
    )

    body = response.content.decode()
    assert 'id="panel-subscriptions"' in body
    panel = body[body.index('id="panel-subscriptions"') :]
    assert "Weekly news" in panel and "Subscribed" in panel
    assert "Deals" in panel and "Pending confirmation" in panel
    assert body.index('id="panel-consent_history"') < body.index(
        'id="panel-subscriptions"'
    )


def test_bulk_subscribe_asks_which_service_then_records_each_change(
    operator_client, consent_operator, make_profile, newsletter
):
    people = [make_profile(), make_profile()]

    question = run_action(operator_client, "subscribe_to_service", people)

    assert question.status_code == 200
    assert "This changes 2 selected profiles" in question.content.decode()
    assert not Subscription.objects.exists()

    answer = run_action(
        operator_client,
        "subscribe_to_service",
        people,
        apply="1",
        service=newsletter.pk,
        note="fair sign-up sheet",
    )

    assert "2 profiles subscribed to Weekly news." in answer.content.decode()
    assert Subscription.objects.filter(status="subscribed").count() == 2
    assert ledger() == [("subscribe", "operator", "email", "news")] * 2
    event = people[0].consent_events.get()
    assert (event.operator, event.note) == (consent_operator, "fair sign-up sheet")


def test_bulk_unsubscribe_ends_subscriptions_of_the_selected_profiles(
    operator_client, make_profile, newsletter
):
    chosen, other = make_profile(), make_profile()
    for profile in (chosen, other):
        subscribe(profile=profile, service=newsletter, origin=Origin("operator"))

    answer = run_action(
        operator_client,
        "unsubscribe_from_service",
        [chosen],
        apply="1",
        service=newsletter.pk,
    )

    assert "1 profile unsubscribed from Weekly news." in answer.content.decode()
    assert Subscription.objects.get(profile=chosen).status == "unsubscribed"
    assert Subscription.objects.get(profile=other).status == "subscribed"


def test_bulk_actions_reach_every_filtered_profile_with_select_across(
    operator_client, make_profile, newsletter
):
    for _ in range(3):
        make_profile(sms_opt_out=True)
    make_profile()

    operator_client.post(
        PROFILES + "?sms_opt_out__exact=1",
        {
            "action": "subscribe_to_service",
            ACTION_CHECKBOX_NAME: [Profile.objects.first().pk],
            "select_across": "1",
            "apply": "1",
            "service": newsletter.pk,
        },
    )

    assert Subscription.objects.count() == 3
    assert set(Subscription.objects.values_list("profile__sms_opt_out", flat=True)) == {
        True
    }


def test_a_missing_service_asks_again_and_changes_nothing(
    operator_client, make_profile
):
    answer = run_action(
        operator_client, "subscribe_to_service", [make_profile()], apply="1"
    )

    assert answer.status_code == 200
    assert "This field is required" in answer.content.decode()
    assert not Subscription.objects.exists()


def test_a_viewer_is_not_offered_the_bulk_actions(
    client, consent_viewer, make_profile, newsletter
):
    client.force_login(consent_viewer)
    profile = make_profile()

    page = client.get(PROFILES).content.decode()
    run_action(
        client, "subscribe_to_service", [profile], apply="1", service=newsletter.pk
    )

    assert "subscribe_to_service" not in page
    assert not Subscription.objects.exists()


def test_the_actions_are_offered_on_the_profile_list_only(
    operator_client, make_profile
):
    make_profile()

    profiles_page = operator_client.get(PROFILES).content.decode()
    services_page = operator_client.get(
        reverse("admin:consent_service_changelist")
    ).content.decode()

    assert 'value="subscribe_to_service"' in profiles_page
    assert 'value="unsubscribe_from_service"' in profiles_page
    assert "subscribe_to_service" not in services_page


def test_the_subscription_list_is_read_only_and_searchable(
    operator_client, make_profile, newsletter
):
    ana = make_profile(email="ana@example.com")
    subscribe(profile=ana, service=newsletter, origin=Origin("operator"))
    subscribe(profile=make_profile(), service=newsletter, origin=Origin("operator"))

    by_address = operator_client.get(SUBSCRIPTIONS, {"q": "ANA@example.com"})
    by_id = operator_client.get(SUBSCRIPTIONS, {"q": str(ana.pk)})
    nonsense = operator_client.get(SUBSCRIPTIONS, {"q": "%%%"})

    assert [s.profile_id for s in by_address.context["cl"].result_list] == [ana.pk]
    assert [s.profile_id for s in by_id.context["cl"].result_list] == [ana.pk]
    assert list(nonsense.context["cl"].result_list) == []
    change = reverse(
        "admin:consent_subscription_change",
        args=[Subscription.objects.get(profile=ana).pk],
    )
    assert operator_client.post(change, {"status": "pending"}).status_code == 403
