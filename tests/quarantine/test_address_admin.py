"""The address list and page in the admin."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from delivery.quarantine.actions import denylist_address, record_error
from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:quarantine_address_changelist")


def quarantine(address, reason="user_unknown"):
    return record_error(
        address=address,
        channel="email",
        kind="hard",
        reason=reason,
        source=StatusChange.Source.BOUNCE,
        diagnostic="550 5.1.1 user unknown",
    )


@pytest.fixture
def rows():
    return {
        "gone": quarantine("gone@gmail.com"),
        "full": quarantine("full@yahoo.com", reason="mailbox_full"),
        "stop": denylist_address(
            address="stop@gmail.com", channel="email", source="operator"
        )
        and Address.objects.get(address="stop@gmail.com"),
    }


def listed(response):
    return {row.address for row in response.context["cl"].result_list}


def test_operator_filters_by_status_reason_and_domain(client, consent_operator, rows):
    client.force_login(consent_operator)

    by_status = client.get(CHANGELIST, {"status__exact": "quarantined"})
    by_reason = client.get(CHANGELIST, {"reason__exact": "mailbox_full"})
    by_domain = client.get(CHANGELIST, {"domain": "@GMAIL.com"})

    assert listed(by_status) == {"gone@gmail.com", "full@yahoo.com"}
    assert listed(by_reason) == {"full@yahoo.com"}
    assert listed(by_domain) == {"gone@gmail.com", "stop@gmail.com"}
    assert 'name="domain" value="@GMAIL.com"' in by_domain.content.decode()


def test_search_finds_one_exact_normalised_address(client, consent_operator, rows):
    client.force_login(consent_operator)

    exact = client.get(CHANGELIST, {"q": "  Gone@GMAIL.com "})
    partial = client.get(CHANGELIST, {"q": "gone"})
    domain = client.get(CHANGELIST, {"q": "@yahoo.com"})

    assert listed(exact) == {"gone@gmail.com"}
    assert listed(partial) == set()
    assert listed(domain) == {"full@yahoo.com"}


def test_the_list_never_counts_the_whole_table(client, consent_operator, rows):
    client.force_login(consent_operator)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST)

    assert response.status_code == 200
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts)


@pytest.mark.parametrize(
    ("action", "expected_status", "verb"),
    [
        ("release_selected", Status.VALID, "released"),
        ("denylist_selected", Status.DENYLISTED, "denylisted"),
        ("allowlist_selected", Status.ALLOWLISTED, "allowlisted"),
    ],
)
def test_actions_change_the_selection_and_say_how_many_changed(
    client, consent_operator, rows, action, expected_status, verb
):
    client.force_login(consent_operator)
    selected = [rows["gone"].pk, rows["stop"].pk]

    response = client.post(
        CHANGELIST,
        {"action": action, "_selected_action": selected},
        follow=True,
    )

    changed = 1 if expected_status == Status.DENYLISTED else 2
    assert f"{changed} of 2 selected addresses {verb}." in response.content.decode()
    assert set(
        Address.objects.filter(pk__in=selected).values_list("status", flat=True)
    ) == {expected_status}
    assert (
        StatusChange.objects.filter(
            new_status=expected_status, operator=consent_operator
        ).count()
        == changed
    )


def test_a_viewer_can_look_but_has_no_actions(client, consent_viewer, rows):
    client.force_login(consent_viewer)

    response = client.get(CHANGELIST)
    refused = client.post(
        CHANGELIST,
        {"action": "denylist_selected", "_selected_action": [rows["gone"].pk]},
    )

    assert response.status_code == 200
    assert "denylist_selected" not in response.content.decode()
    assert refused.status_code != 500
    assert Address.objects.get(pk=rows["gone"].pk).status == Status.QUARANTINED


def test_the_address_page_shows_its_history_read_only(client, consent_operator, rows):
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_address_change", args=[rows["gone"].pk])

    page = client.get(url).content.decode()

    assert "History of status changes" in page
    assert "550 5.1.1 user unknown" in page
    assert 'name="status_changes-0-note"' not in page
    assert "status_changes-0-DELETE" not in page
    assert "Delete" not in page.split('class="submit-row"')[-1]


def test_the_address_page_changes_the_status_through_the_actions(
    client, consent_operator, rows
):
    client.force_login(consent_operator)
    url = reverse("admin:quarantine_address_change", args=[rows["gone"].pk])

    response = client.post(
        url,
        {
            "change_to": "valid",
            "note": "confirmed by phone",
            "status_changes-TOTAL_FORMS": "1",
            "status_changes-INITIAL_FORMS": "1",
            "status_changes-MIN_NUM_FORMS": "0",
            "status_changes-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302
    row = Address.objects.get(pk=rows["gone"].pk)
    assert (row.status, row.address) == (Status.VALID, "gone@gmail.com")
    change = StatusChange.objects.filter(address=row).first()
    assert (change.new_status, change.operator, change.note) == (
        Status.VALID,
        consent_operator,
        "confirmed by phone",
    )


def test_an_operator_denylists_an_address_that_has_no_row_yet(client, consent_operator):
    client.force_login(consent_operator)

    response = client.post(
        reverse("admin:quarantine_address_add"),
        {
            "address": " Fraud@Example.com ",
            "channel": "email",
            "status": "denylisted",
            "note": "chargeback",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
            "status_changes-MIN_NUM_FORMS": "0",
            "status_changes-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302
    row = Address.objects.get()
    assert (row.address, row.status) == ("fraud@example.com", Status.DENYLISTED)
    assert StatusChange.objects.get().note == "chargeback"


def test_adding_an_existing_address_changes_that_row(client, consent_operator, rows):
    client.force_login(consent_operator)

    client.post(
        reverse("admin:quarantine_address_add"),
        {
            "address": "gone@gmail.com",
            "channel": "email",
            "status": "allowlisted",
            "status_changes-TOTAL_FORMS": "0",
            "status_changes-INITIAL_FORMS": "0",
            "status_changes-MIN_NUM_FORMS": "0",
            "status_changes-MAX_NUM_FORMS": "1000",
        },
    )

    assert Address.objects.filter(address="gone@gmail.com").count() == 1
    assert Address.objects.get(address="gone@gmail.com").status == Status.ALLOWLISTED


def test_an_invalid_address_is_refused_with_a_message(client, consent_operator):
    client.force_login(consent_operator)

    response = client.post(
        reverse("admin:quarantine_address_add"),
        {"address": "not an address", "channel": "email", "status": "denylisted"},
    )

    assert response.status_code == 200
    assert "is not a valid e-mail address" in response.content.decode()
    assert not Address.objects.exists()


def test_nobody_deletes_an_address_or_its_history(client, superuser, rows):
    client.force_login(superuser)
    pk = rows["gone"].pk

    delete_address = client.get(reverse("admin:quarantine_address_delete", args=[pk]))
    history = client.get(reverse("admin:quarantine_statuschange_changelist"))
    change_history = client.get(
        reverse(
            "admin:quarantine_statuschange_change",
            args=[StatusChange.objects.first().pk],
        )
    )

    assert delete_address.status_code == 403
    assert history.status_code == 200
    assert "Add status change" not in history.content.decode()
    assert 'type="submit" value="Save"' not in change_history.content.decode()


def test_a_viewer_sees_an_address_page_without_the_status_form(
    client, consent_viewer, rows
):
    client.force_login(consent_viewer)

    page = client.get(
        reverse("admin:quarantine_address_change", args=[rows["gone"].pk])
    )

    text = page.content.decode()
    assert page.status_code == 200
    assert "gone@gmail.com" in text
    assert "History of status changes" in text
    assert 'name="change_to"' not in text
