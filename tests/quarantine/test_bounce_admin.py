"""Bounces in the admin: the raw diagnostic, and releasing false positives."""

import pytest
from django.urls import reverse

from delivery.quarantine.actions import record_error
from delivery.quarantine.models import Address, Bounce, Status, StatusChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def bounce():
    record_error(
        address="good.customer@example.com",
        channel="email",
        kind="hard",
        reason="user_unknown",
        source=StatusChange.Source.BOUNCE,
        diagnostic="550 5.1.1 <good.customer@example.com>: user unknown",
        status_code="5.1.1",
        raw="From: MAILER-DAEMON@mx.example\nSubject: Undelivered <Mail>\n",
    )
    return Bounce.objects.get()


def test_a_bounce_shows_its_raw_diagnostic_escaped(client, consent_operator, bounce):
    client.force_login(consent_operator)

    page = client.get(reverse("admin:quarantine_bounce_change", args=[bounce.pk]))

    text = page.content.decode()
    assert page.status_code == 200
    assert "550 5.1.1 &lt;good.customer@example.com&gt;: user unknown" in text
    assert "Subject: Undelivered &lt;Mail&gt;" in text
    assert "Mark as false positive" in text
    assert 'value="Save"' not in text


def test_the_bounce_list_filters_by_kind_and_searches_an_address(
    client, consent_operator, bounce
):
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_bounce_changelist")

    found = client.get(url, {"q": "Good.Customer@example.com", "kind__exact": "hard"})
    none = client.get(url, {"kind__exact": "soft"})

    assert [b.pk for b in found.context["cl"].result_list] == [bounce.pk]
    assert list(none.context["cl"].result_list) == []


def test_false_positive_releases_the_address_and_records_why(
    client, consent_operator, bounce
):
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_bounce_false_positive", args=[bounce.pk])

    form = client.get(url)
    response = client.post(url, {"note": "customer replied from this address"})

    assert form.status_code == 200
    assert response.status_code == 302
    bounce.refresh_from_db()
    assert bounce.false_positive is True
    row = Address.objects.get()
    assert row.status == Status.VALID
    change = StatusChange.objects.filter(address=row).first()
    assert (change.new_status, change.operator) == (Status.VALID, consent_operator)
    assert change.note == (
        f"false positive (bounce #{bounce.pk}): customer replied from this address"
    )


def test_false_positive_needs_a_note(client, consent_operator, bounce):
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_bounce_false_positive", args=[bounce.pk])

    response = client.post(url, {"note": "  "})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert Address.objects.get().status == Status.QUARANTINED


def test_false_positive_action_on_the_list_asks_why_then_releases(
    client, consent_operator, bounce
):
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_bounce_changelist")
    chosen = {"action": "mark_false_positive", "_selected_action": [bounce.pk]}

    asked = client.post(url, chosen)
    done = client.post(url, {**chosen, "apply": "1", "note": "provider glitch"})

    assert "Mark bounces as false positives" in asked.content.decode()
    assert Address.objects.get().status == Status.VALID
    assert done.status_code == 302
    assert StatusChange.objects.filter(note__endswith="provider glitch").exists()


def test_a_viewer_cannot_mark_a_false_positive(client, consent_viewer, bounce):
    client.force_login(consent_viewer)
    url = reverse("admin:quarantine_bounce_false_positive", args=[bounce.pk])

    page = client.get(reverse("admin:quarantine_bounce_change", args=[bounce.pk]))
    refused = client.post(url, {"note": "trying"})

    assert "Mark as false positive" not in page.content.decode()
    assert refused.status_code == 403
    assert Address.objects.get().status == Status.QUARANTINED
