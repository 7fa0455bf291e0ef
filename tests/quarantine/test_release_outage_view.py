"""The admin page that releases, after a dry count, what an outage did."""

from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.quarantine.actions import record_error
from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db

URL = reverse("admin:quarantine_address_release_outage")


@pytest.fixture
def outage():
    for address, when in (
        ("a@gmail.com", "2026-03-02 08:00"),
        ("b@gmail.com", "2026-03-02 17:30"),
        ("c@yahoo.com", "2026-03-02 09:00"),
        ("d@gmail.com", "2026-02-20 09:00"),
    ):
        record_error(
            address=address,
            channel="email",
            kind="hard",
            reason="user_unknown",
            source=StatusChange.Source.BOUNCE,
            occurred_at=timezone.make_aware(datetime.fromisoformat(when)),
        )


FORM = {
    "domain": "gmail.com",
    "reason": "user_unknown",
    "since": "2026-03-02",
    "until": "2026-03-02",
}


def test_the_count_comes_first_and_changes_nothing(client, consent_operator, outage):
    client.force_login(consent_operator)

    response = client.post(URL, {**FORM, "preview": "1"})

    text = response.content.decode()
    assert "2 addresses match. Nothing has been changed yet." in text
    assert 'value="Release 2 addresses"' in text
    assert not Address.objects.filter(status=Status.VALID).exists()


def test_confirming_releases_them_and_records_who_and_why(
    client, consent_operator, outage
):
    client.force_login(consent_operator)

    response = client.post(
        URL, {**FORM, "note": "gmail incident 12 Mar", "release": "1"}, follow=True
    )

    assert "2 addresses released." in response.content.decode()
    assert set(
        Address.objects.filter(status=Status.VALID).values_list("address", flat=True)
    ) == {"a@gmail.com", "b@gmail.com"}
    assert set(
        StatusChange.objects.filter(new_status=Status.VALID).values_list(
            "operator", "note"
        )
    ) == {(consent_operator.pk, "gmail incident 12 Mar")}


def test_bad_dates_are_explained_and_nothing_changes(client, consent_operator, outage):
    client.force_login(consent_operator)

    response = client.post(
        URL, {**FORM, "since": "2026-03-05", "until": "March", "release": "1"}
    )

    text = response.content.decode()
    assert response.status_code == 200
    assert "March is not a date" in text
    assert not Address.objects.filter(status=Status.VALID).exists()


def test_a_viewer_may_not_release(client, consent_viewer, outage):
    client.force_login(consent_viewer)

    listing = client.get(reverse("admin:quarantine_address_changelist"))

    assert URL not in listing.content.decode()
    assert client.get(URL).status_code == 403
    assert client.post(URL, {**FORM, "release": "1"}).status_code == 403
    assert not Address.objects.filter(status=Status.VALID).exists()


def test_the_address_list_links_to_the_release_page(client, consent_operator):
    client.force_login(consent_operator)

    page = client.get(reverse("admin:quarantine_address_changelist"))

    assert URL in page.content.decode()
