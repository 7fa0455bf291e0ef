"""The two-profile case, end to end through the admin.

Two profiles share an address. Opting one out leaves the other contactable,
so the operator denylists the address from the profile page; from then on
no delivery reaches either profile on it.
"""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(make_profile):
    """A parent and a child registered with the same e-mail address."""
    parent = make_profile(email="family@example.com", mobile_phone="+14155550123")
    child = make_profile(email="family@example.com")
    stranger = make_profile(email="stranger@example.com")
    return parent, child, stranger


def analyse_email_delivery() -> dict:
    out = StringIO()
    call_command(
        "create_delivery",
        "--label",
        "Spring news",
        "--channel",
        "email",
        "--json",
        stdout=out,
    )
    delivery_id = json.loads(out.getvalue())["id"]
    out = StringIO()
    call_command("analyze_delivery", str(delivery_id), "--json", stdout=out)
    return json.loads(out.getvalue())


def test_profile_page_lists_each_address_with_its_status_and_sharing(
    client, consent_operator, family
):
    parent, _, _ = family
    client.force_login(consent_operator)

    page = client.get(reverse("admin:consent_profile_change", args=[parent.pk]))

    text = page.content.decode()
    panel = text.split('id="panel-quarantine"', 1)[1].split("</fieldset>", 1)[0]
    assert "family@example.com" in panel
    assert "+14155550123" in panel
    assert panel.count("Valid") == 2
    assert "<td>1</td>" in panel  # one other profile holds the e-mail address
    denylist_url = reverse(
        "admin:quarantine_address_denylist_profile", args=[parent.pk]
    )
    assert f'href="{denylist_url}"' in panel


def test_denylisting_from_the_profile_page_excludes_every_profile_sharing_it(
    client, consent_operator, family
):
    parent, child, stranger = family
    before = analyse_email_delivery()
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_address_denylist_profile", args=[parent.pk])

    confirm = client.get(url)
    assert "Yes, denylist these addresses" in confirm.content.decode()
    assert not Address.objects.exists()

    response = client.post(url, {"note": "the family asked by letter"}, follow=True)

    assert response.redirect_chain[-1][0] == reverse(
        "admin:consent_profile_change", args=[parent.pk]
    )
    assert "2 addresses denylisted" in response.content.decode()
    assert set(Address.objects.values_list("address", "channel", "status")) == {
        ("family@example.com", "email", Status.DENYLISTED),
        ("+14155550123", "sms", Status.DENYLISTED),
    }
    assert set(StatusChange.objects.values_list("operator", "note", "source")) == {
        (consent_operator.pk, "the family asked by letter", "operator")
    }

    after = analyse_email_delivery()
    assert (before["excluded"]["denylisted"], before["excluded"]["duplicate"]) == (
        0,
        1,
    )
    assert after["excluded"]["denylisted"] == 2
    assert after["to_send"] == before["to_send"] - 1

    other_page = client.get(reverse("admin:consent_profile_change", args=[child.pk]))
    panel = other_page.content.decode().split('id="panel-quarantine"', 1)[1]
    assert "Denylisted" in panel.split("</fieldset>", 1)[0]


def test_once_denylisted_the_panel_no_longer_offers_it(
    client, consent_operator, family
):
    parent, _, _ = family
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_address_denylist_profile", args=[parent.pk])
    client.post(url, {"note": ""})

    again = client.post(url, {"note": ""}, follow=True)
    page = client.get(reverse("admin:consent_profile_change", args=[parent.pk]))

    assert "already denylisted" in again.content.decode()
    assert url not in page.content.decode()
    assert StatusChange.objects.count() == 2


def test_a_viewer_sees_the_panel_but_may_not_denylist(client, consent_viewer, family):
    parent, _, _ = family
    client.force_login(consent_viewer)
    url = reverse("admin:quarantine_address_denylist_profile", args=[parent.pk])

    page = client.get(reverse("admin:consent_profile_change", args=[parent.pk]))
    refused = client.post(url, {"note": ""})

    assert "family@example.com" in page.content.decode()
    assert url not in page.content.decode()
    assert refused.status_code == 403
    assert not Address.objects.exists()


def test_the_post_is_refused_without_its_csrf_token(consent_operator, family):
    parent, _, _ = family
    client = Client(enforce_csrf_checks=True)
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_address_denylist_profile", args=[parent.pk])

    response = client.post(url, {"note": ""})

    assert response.status_code == 403
    assert not Address.objects.exists()


def test_an_unknown_profile_is_a_404(client, consent_operator):
    client.force_login(consent_operator)

    response = client.post(
        reverse("admin:quarantine_address_denylist_profile", args=[999999])
    )

    assert response.status_code == 404
