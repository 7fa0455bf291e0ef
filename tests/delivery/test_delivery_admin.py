"""The delivery pages of the admin, as operators and viewers use them."""

import re

import pytest
from django.urls import reverse

from consent.actions import Origin, record_opt_out
from delivery.models import Delivery, DeliveryEvent, Recipient

pytestmark = pytest.mark.django_db


def change_url(delivery) -> str:
    return reverse("admin:delivery_delivery_change", args=[delivery.pk])


def profiles_url(delivery, reason) -> str:
    return reverse("admin:delivery_delivery_profiles", args=[delivery.pk, reason])


def text_of(response) -> str:
    """The page's visible text with tags removed and spaces collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def operator_client(client, consent_operator):
    client.force_login(consent_operator)
    return client


@pytest.fixture
def viewer_client(client, consent_viewer):
    client.force_login(consent_viewer)
    return client


@pytest.fixture
def mixed_target(make_profile):
    """Two to send, one opted out, one duplicate."""
    return {
        "ann": make_profile(first_name="Ann", email="ann@example.com"),
        "bob": make_profile(first_name="Bob", email="bob@example.com"),
        "refused": make_profile(
            first_name="Rita", email="rita@example.com", no_longer_contact=True
        ),
        "copy": make_profile(first_name="Annie", email="ANN@example.com"),
    }


def test_the_list_shows_deliveries_with_their_target_and_state(
    operator_client, make_delivery, newsletter
):
    make_delivery(label="Spring news", service=newsletter, language="en")

    response = operator_client.get(reverse("admin:delivery_delivery_changelist"))

    assert response.status_code == 200
    page = text_of(response)
    assert "Spring news" in page
    assert "subscribers of Newsletter (English)" in page
    assert "Draft" in page


def test_an_operator_creates_a_delivery_through_the_action(
    operator_client, consent_operator, newsletter
):
    response = operator_client.post(
        reverse("admin:delivery_delivery_add"),
        {
            "label": "Autumn",
            "channel": "email",
            "service": newsletter.pk,
            "language": "",
            "exclude_duplicates": "on",
            "subject": "Hi {{ first_name }}",
            "body": "News",
        },
    )

    assert response.status_code == 302
    delivery = Delivery.objects.get()
    assert (delivery.label, delivery.service, delivery.created_by) == (
        "Autumn",
        newsletter,
        consent_operator,
    )
    event = DeliveryEvent.objects.get(delivery=delivery)
    assert (event.action, event.operator) == ("created", consent_operator)


def test_a_bad_template_or_channel_is_refused_with_a_message(
    operator_client, sms_alerts
):
    response = operator_client.post(
        reverse("admin:delivery_delivery_add"),
        {
            "label": "Broken",
            "channel": "email",
            "service": sms_alerts.pk,
            "subject": "{% if %}",
            "body": "x",
            "exclude_duplicates": "on",
        },
    )

    assert response.status_code == 200
    page = text_of(response)
    assert "This template has an error" in page
    assert "The service alerts is sent by sms" in page
    assert not Delivery.objects.exists()


def test_changing_the_target_of_an_analysed_delivery_asks_for_a_new_analysis(
    operator_client, mixed_target, analysed
):
    delivery = analysed()

    response = operator_client.post(
        change_url(delivery),
        {
            "label": delivery.label,
            "channel": "email",
            "service": "",
            "language": "pt-br",
            "exclude_duplicates": "on",
            "subject": delivery.subject,
            "body": delivery.body,
        },
        follow=True,
    )

    assert "analyse the delivery again before sending" in text_of(response)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.language, delivery.target_count) == (
        "draft",
        "pt-br",
        None,
    )
    assert not Recipient.objects.filter(delivery=delivery).exists()


def test_the_analyse_button_analyses_and_records_the_operator(
    operator_client, consent_operator, mixed_target, make_delivery
):
    delivery = make_delivery()

    response = operator_client.post(
        reverse("admin:delivery_delivery_analyse", args=[delivery.pk]), follow=True
    )

    assert "Analysed: 4 profiles targeted, 2 to send, 2 excluded." in text_of(response)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.analysed_by) == ("analysed", consent_operator)


def test_the_analyse_button_does_nothing_on_get(operator_client, make_delivery):
    delivery = make_delivery()

    response = operator_client.get(
        reverse("admin:delivery_delivery_analyse", args=[delivery.pk])
    )

    assert response.status_code == 405
    assert Delivery.objects.get(pk=delivery.pk).status == "draft"


def test_the_report_shows_each_reason_with_its_count_and_share(
    operator_client, mixed_target, analysed
):
    delivery = analysed()

    response = operator_client.get(change_url(delivery))

    page = text_of(response)
    assert "4 profiles targeted: 2 to send, 2 excluded." in page
    assert "To send 2 50.0 %" in page
    assert "Opted out of everything 1 25.0 %" in page
    assert "Duplicate address 1 25.0 %" in page
    assert "Quarantined address 0 0.0 %" in page
    html = response.content.decode()
    assert '<svg class="delivery-chart"' in html
    assert 'width="210.0"' in html  # half the 420-unit bar: to send
    assert profiles_url(delivery, "opted_out") in html
    # A reason nobody has is not a link.
    assert profiles_url(delivery, "quarantined") not in html


def test_a_draft_shows_that_it_is_not_analysed_yet(operator_client, make_delivery):
    delivery = make_delivery()

    response = operator_client.get(change_url(delivery))

    assert "Not analysed yet." in text_of(response)
    assert ">Analyse</button>" in response.content.decode()


def test_the_list_of_a_reason_shows_who_was_left_out(
    operator_client, mixed_target, analysed
):
    delivery = analysed()

    response = operator_client.get(profiles_url(delivery, "opted_out"))

    assert response.status_code == 200
    page = text_of(response)
    assert "1 profile in this list." in page
    assert "Rita Tester" in page
    assert "Excluded: Opted out of everything" in page
    assert "Ann Tester" not in page


@pytest.mark.parametrize("size", [5, 150])
def test_the_list_of_a_reason_takes_the_same_queries_whatever_its_size(
    operator_client, make_profile, analysed, django_assert_num_queries, size
):
    for n in range(size):
        make_profile(email=f"p{n}@example.com", no_longer_contact=True)
    delivery = analysed()

    # Session, user, the delivery, the user's and the group's permissions,
    # and one page of rows with their profiles.
    with django_assert_num_queries(6):
        response = operator_client.get(profiles_url(delivery, "opted_out"))

    assert f"{size} profiles in this list." in text_of(response)


def test_long_lists_page_by_keyset_forwards_and_back(
    operator_client, make_profile, analysed
):
    for n in range(105):
        make_profile(
            first_name=f"P{n:03d}", email=f"p{n}@x.example", email_opt_out=True
        )
    delivery = analysed()
    url = profiles_url(delivery, "channel_opted_out")

    first = operator_client.get(url)
    next_link = re.search(r'href="\?after=(\d+)"', first.content.decode())
    second = operator_client.get(url, {"after": next_link.group(1)})
    previous_link = re.search(r'href="\?before=(\d+)"', second.content.decode())
    back = operator_client.get(url, {"before": previous_link.group(1)})

    assert text_of(first).count("Excluded: Opted out of the channel") == 100
    assert "P000" in text_of(first) and "P099" in text_of(first)
    assert text_of(second).count("Excluded: Opted out of the channel") == 5
    assert "P100" in text_of(second) and "P099" not in text_of(second)
    assert "after=" not in second.content.decode()
    assert text_of(back) == text_of(first)


def test_an_unknown_reason_is_not_found(operator_client, mixed_target, analysed):
    delivery = analysed()

    response = operator_client.get(profiles_url(delivery, "bogus"))

    assert response.status_code == 404


def test_the_send_page_confirms_then_sends(
    operator_client, consent_operator, smtp_server, mixed_target, analysed
):
    delivery = analysed()
    record_opt_out(profile=mixed_target["bob"], origin=Origin("landing_page"))
    url = reverse("admin:delivery_delivery_send", args=[delivery.pk])

    confirmation = operator_client.get(url)

    page = text_of(confirmation)
    assert "Sending now reaches 1 recipient by E-mail." in page
    assert "Opted out of everything: 1" in page
    assert smtp_server.messages == []

    response = operator_client.post(url, follow=True)

    assert "1 sent, 0 failed, 1 skipped." in text_of(response)
    assert [m["To"].addresses[0].addr_spec for m in smtp_server.messages] == [
        "ann@example.com"
    ]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.send_started_by) == ("sent", consent_operator)
    sent_list = operator_client.get(
        profiles_url(delivery, "to_send"), {"status": "skipped"}
    )
    assert "Skipped at send time: Opted out of everything" in text_of(sent_list)


def test_a_sent_delivery_offers_no_button_and_cannot_be_deleted(
    operator_client, superuser, client, smtp_server, mixed_target, analysed
):
    delivery = analysed()
    operator_client.post(reverse("admin:delivery_delivery_send", args=[delivery.pk]))
    client.force_login(superuser)

    response = client.get(change_url(delivery))

    html = response.content.decode()
    assert "Analyse" not in html.replace("Analysed", "")
    assert reverse("admin:delivery_delivery_send", args=[delivery.pk]) not in html
    delete = client.post(
        reverse("admin:delivery_delivery_delete", args=[delivery.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403
    assert Delivery.objects.filter(pk=delivery.pk).exists()


def test_a_viewer_reads_the_report_but_cannot_analyse_or_send(
    viewer_client, smtp_server, mixed_target, analysed
):
    delivery = analysed()

    page = viewer_client.get(change_url(delivery))
    analyse = viewer_client.post(
        reverse("admin:delivery_delivery_analyse", args=[delivery.pk])
    )
    confirm = viewer_client.get(
        reverse("admin:delivery_delivery_send", args=[delivery.pk])
    )
    send = viewer_client.post(
        reverse("admin:delivery_delivery_send", args=[delivery.pk])
    )

    assert page.status_code == 200
    assert "4 profiles targeted" in text_of(page)
    assert "Analyse again" not in text_of(page)
    assert (analyse.status_code, confirm.status_code, send.status_code) == (
        403,
        403,
        403,
    )
    stored = Delivery.objects.get(pk=delivery.pk)
    assert (stored.status, stored.analysed_by) == ("analysed", None)
    assert smtp_server.messages == []


def test_the_profile_page_lists_the_deliveries_and_why_it_was_left_out(
    operator_client, mixed_target, analysed
):
    delivery = analysed(label="Summer sale")

    response = operator_client.get(
        reverse("admin:consent_profile_change", args=[mixed_target["refused"].pk])
    )

    page = text_of(response)
    assert "Deliveries" in page
    assert "Summer sale" in page
    assert "Excluded: Opted out of everything" in page
    assert change_url(delivery) in response.content.decode()
