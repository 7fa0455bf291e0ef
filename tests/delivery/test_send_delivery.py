"""send_delivery: messages over a real SMTP server on loopback."""

from urllib.parse import parse_qs, unquote, urlparse

import pytest
from django.core import mail

from consent.actions import Origin, record_opt_out, unsubscribe
from consent.models import ConsentEvent, Profile, Subscription
from delivery import actions, sending
from delivery.actions import DeliveryStateError, send_delivery
from delivery.models import Delivery, DeliveryEvent, Recipient
from delivery.quarantine.models import Address, Bounce, StatusChange

pytestmark = pytest.mark.django_db


def rows(delivery) -> dict[int, tuple[str, str]]:
    """{profile id: (status, skip reason)} of a delivery's recipients."""
    return {
        profile_id: (status, skip_reason)
        for profile_id, status, skip_reason in Recipient.objects.filter(
            delivery=delivery, reason=""
        ).values_list("profile_id", "status", "skip_reason")
    }


def recipients_of(inbox) -> list[str]:
    return sorted(address for _, rcpts in inbox.envelopes for address in rcpts)


def test_each_recipient_gets_one_personalised_message(
    smtp_server, make_profile, analysed, superuser
):
    ann = make_profile(first_name="Ann", last_name="Smith", email="ann@example.com")
    bob = make_profile(first_name="Bob", last_name="Jones", email="bob@example.com")
    refused = make_profile(email="refused@example.com", no_longer_contact=True)
    delivery = analysed(subject="Hello {{ first_name }}", body="Dear {{ full_name }},")

    result = send_delivery(delivery=delivery, operator=superuser)

    assert recipients_of(smtp_server) == ["ann@example.com", "bob@example.com"]
    by_to = {m["To"].addresses[0].addr_spec: m for m in smtp_server.messages}
    message = by_to["ann@example.com"]
    assert message["Subject"] == "Hello Ann"
    assert str(message["To"]) == "Ann Smith <ann@example.com>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert text.startswith("Dear Ann Smith,")
    assert "Dear Ann Smith," in html
    assert by_to["bob@example.com"]["Subject"] == "Hello Bob"
    assert rows(delivery) == {ann.pk: ("sent", ""), bob.pk: ("sent", "")}
    assert Recipient.objects.get(delivery=delivery, profile=refused).status == (
        "excluded"
    )
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.send_started_by == superuser
    assert delivery.sent_at is not None
    assert (delivery.sent_count, delivery.failed_count, delivery.skipped_count) == (
        2,
        0,
        0,
    )
    assert (result.sent, result.failed, result.skipped) == (2, 0, 0)
    assert list(
        DeliveryEvent.objects.filter(delivery=delivery)
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["created", "analysed", "send_started", "sent"]


def test_every_message_carries_its_own_unsubscribe_link_and_headers(
    smtp_server, make_profile, analysed, settings
):
    settings.SITE_URL = "https://consent.example.com"
    settings.UNSUBSCRIBE_MAILTO = "leave@example.com"
    make_profile(email="ann@example.com")
    make_profile(email="bob@example.com")
    delivery = analysed()

    send_delivery(delivery=delivery)

    links = set()
    for message in smtp_server.messages:
        https, mailto = [
            part.strip().strip("<>") for part in message["List-Unsubscribe"].split(",")
        ]
        assert https.startswith("https://consent.example.com/p/unsubscribe/")
        assert mailto.startswith("mailto:leave@example.com?")
        assert parse_qs(urlparse(mailto).query)["body"] == [https]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["X-Campaign-Delivery"] == str(delivery.pk)
        assert https in message.get_body(("plain",)).get_content()
        assert https in unquote(message.get_body(("html",)).get_content())
        links.add(https)
    assert len(links) == 2


def test_the_one_click_link_of_a_received_message_unsubscribes_its_reader(
    smtp_server, make_profile, analysed, newsletter, subscribe_to, client, settings
):
    settings.SITE_URL = "https://consent.example.com"
    ann = make_profile(email="ann@example.com")
    bob = make_profile(email="bob@example.com")
    subscribe_to(newsletter, ann, bob)
    delivery = analysed(service=newsletter)
    send_delivery(delivery=delivery)
    message = next(
        m
        for m in smtp_server.messages
        if m["To"].addresses[0].addr_spec == "ann@example.com"
    )
    link = message["List-Unsubscribe"].split(",")[0].strip().strip("<>")

    response = client.post(
        urlparse(link).path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    statuses = dict(
        Subscription.objects.filter(service=newsletter).values_list(
            "profile_id", "status"
        )
    )
    assert statuses == {ann.pk: "unsubscribed", bob.pk: "subscribed"}
    event = ConsentEvent.objects.get(profile=ann, action="unsubscribe")
    assert (event.source, event.service) == ("one_click", newsletter)


def test_an_opt_out_after_the_analysis_is_honoured_at_send_time(
    smtp_server, make_profile, analysed
):
    ann = make_profile(email="ann@example.com")
    late = make_profile(email="late@example.com")
    delivery = analysed()
    record_opt_out(profile=late, channel="email", origin=Origin("landing_page"))

    result = send_delivery(delivery=delivery)

    assert recipients_of(smtp_server) == ["ann@example.com"]
    assert rows(delivery) == {
        ann.pk: ("sent", ""),
        late.pk: ("skipped", "channel_opted_out"),
    }
    assert result.skipped == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.skipped_count) == ("sent", 1)


@pytest.mark.parametrize(
    "change",
    ["no_longer_contact", "denylisted", "quarantined", "unsubscribed", "new_address"],
)
def test_every_change_since_the_analysis_is_honoured_at_send_time(
    smtp_server,
    make_profile,
    analysed,
    newsletter,
    subscribe_to,
    denylist,
    quarantine_address,
    change,
):
    kept = make_profile(email="kept@example.com")
    late = make_profile(email="late@example.com")
    subscribe_to(newsletter, kept, late)
    delivery = analysed(service=newsletter)
    if change == "no_longer_contact":
        record_opt_out(profile=late, origin=Origin("operator"))
    elif change == "denylisted":
        denylist("late@example.com")
    elif change == "quarantined":
        quarantine_address("late@example.com")
    elif change == "unsubscribed":
        unsubscribe(profile=late, service=newsletter, origin=Origin("operator"))
    else:
        Profile.objects.filter(pk=late.pk).update(email="moved@example.com")
    expected = {
        "no_longer_contact": "opted_out",
        "new_address": "address_changed",
    }.get(change, change)

    send_delivery(delivery=delivery)

    assert recipients_of(smtp_server) == ["kept@example.com"]
    assert rows(delivery) == {kept.pk: ("sent", ""), late.pk: ("skipped", expected)}


def test_sending_twice_sends_nobody_a_second_copy(smtp_server, make_profile, analysed):
    make_profile(email="ann@example.com")
    make_profile(email="bob@example.com")
    delivery = analysed()
    send_delivery(delivery=delivery)

    with pytest.raises(DeliveryStateError, match="Only an analysed delivery"):
        send_delivery(delivery=delivery)
    # A batch run again, as a retried worker would, finds nothing to send.
    again = sending.send_batch(delivery.pk, 0)

    assert (again.sent, again.failed, again.skipped) == (0, 0, 0)
    assert recipients_of(smtp_server) == ["ann@example.com", "bob@example.com"]


def test_a_batch_run_twice_while_sending_sends_each_message_once(
    smtp_server, make_profile, analysed
):
    for n in range(5):
        make_profile(email=f"p{n}@example.com")
    delivery = analysed()
    actions.start_sending(delivery=delivery)
    [(first, last)] = sending.plan_batches(delivery.pk)

    one = sending.send_batch(delivery.pk, first, last)
    two = sending.send_batch(delivery.pk, first, last)

    assert (one.sent, two.sent) == (5, 0)
    assert len(smtp_server.messages) == 5
    assert actions.finish_sending(delivery=delivery).status == "sent"


def test_a_draft_delivery_cannot_be_sent(smtp_server, make_profile, make_delivery):
    make_profile(email="ann@example.com")
    delivery = make_delivery()

    with pytest.raises(DeliveryStateError, match="Only an analysed delivery"):
        send_delivery(delivery=delivery)

    assert smtp_server.messages == []
    assert Delivery.objects.get(pk=delivery.pk).status == "draft"


def test_a_delivery_without_a_subject_is_not_sent(smtp_server, make_profile, analysed):
    make_profile(email="ann@example.com")
    delivery = analysed(subject="")

    with pytest.raises(DeliveryStateError, match="subject"):
        send_delivery(delivery=delivery)

    assert Delivery.objects.get(pk=delivery.pk).status == "analysed"


def test_batches_reuse_one_connection_each(
    smtp_server, smtp_sessions, make_profile, analysed, settings
):
    settings.DELIVERY_BATCH_SIZE = 2
    settings.DELIVERY_SEND_SLICE = 1
    for n in range(5):
        make_profile(email=f"p{n}@example.com")
    delivery = analysed()

    send_delivery(delivery=delivery)

    assert len(smtp_server.messages) == 5
    # Each new connection comes from a new client port.
    assert [smtp_sessions.count(peer) for peer in dict.fromkeys(smtp_sessions)] == [
        2,
        2,
        1,
    ]


def test_a_recipient_refused_as_unknown_is_failed_and_its_address_quarantined(
    smtp_server, refuse_recipients, make_profile, analysed
):
    refuse_recipients(
        {"gone@example.com": "550 5.1.1 <gone@example.com>: no such user"}
    )
    gone = make_profile(email="gone@example.com")
    ann = make_profile(email="ann@example.com")
    delivery = analysed()

    result = send_delivery(delivery=delivery)

    assert recipients_of(smtp_server) == ["ann@example.com"]
    assert (result.sent, result.failed) == (1, 1)
    row = Recipient.objects.get(delivery=delivery, profile=gone)
    assert row.status == "failed"
    assert row.error.startswith("550 5.1.1")
    assert Recipient.objects.get(delivery=delivery, profile=ann).status == "sent"
    address = Address.objects.get(address="gone@example.com", channel="email")
    assert (address.status, address.reason) == ("quarantined", "user_unknown")
    bounce = Bounce.objects.get(address=address)
    assert (bounce.kind, bounce.source, bounce.status_code) == ("hard", "send", "5.1.1")
    assert bounce.origin == f"delivery {delivery.pk}"
    assert StatusChange.objects.filter(
        address=address, new_status="quarantined", source="send"
    ).exists()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.failed_count) == ("sent", 1)


def test_a_temporary_refusal_counts_a_soft_error(
    smtp_server, refuse_recipients, make_profile, analysed
):
    refuse_recipients({"full@example.com": "452 4.2.2 Mailbox full"})
    make_profile(email="full@example.com")
    delivery = analysed()

    send_delivery(delivery=delivery)

    address = Address.objects.get(address="full@example.com")
    assert (address.status, address.error_count) == ("with_errors", 1)
    assert Bounce.objects.get(address=address).kind == "soft"


def test_a_successful_send_clears_an_address_with_errors(
    smtp_server, make_profile, analysed
):
    from delivery.quarantine.actions import record_error

    make_profile(email="flaky@example.com")
    make_profile(email="fine@example.com")
    record_error(
        address="flaky@example.com",
        channel="email",
        kind="soft",
        reason="mailbox_full",
        source="bounce",
    )
    delivery = analysed()

    send_delivery(delivery=delivery)

    assert Address.objects.get(address="flaky@example.com").status == "valid"
    assert StatusChange.objects.filter(
        address__address="flaky@example.com", new_status="valid", source="send"
    ).exists()
    # No row appears for an address that never had an error.
    assert not Address.objects.filter(address="fine@example.com").exists()


def test_the_mail_server_going_away_puts_back_the_rest_for_a_later_run(
    smtp_server, make_profile, analysed, settings
):
    settings.DELIVERY_SEND_SLICE = 2
    for n in range(5):
        make_profile(email=f"p{n}@example.com")
    delivery = analysed()
    original = smtp_server.handle_DATA

    async def closing_after_two(server, session, envelope):
        if len(smtp_server.messages) >= 2:
            return "421 4.3.2 Shutting down"
        return await original(server, session, envelope)

    smtp_server.handle_DATA = closing_after_two

    with pytest.raises(sending.SendingStopped, match="421"):
        send_delivery(delivery=delivery)

    statuses = sorted(rows(delivery).values())
    assert statuses == [("pending", "")] * 3 + [("sent", "")] * 2
    assert Delivery.objects.get(pk=delivery.pk).status == "sending"
    assert not Address.objects.exists()

    del smtp_server.handle_DATA
    result = send_delivery(delivery=delivery)

    assert result.sent == 3
    assert recipients_of(smtp_server) == [f"p{n}@example.com" for n in range(5)]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.sent_count) == ("sent", 5)


def test_sms_goes_through_the_configured_backend_with_a_stop_link(
    make_profile, analysed, settings
):
    from delivery import sms

    settings.SMS_BACKEND = "delivery.sms.LocmemSmsBackend"
    sms.outbox.clear()
    make_profile(first_name="Ann", mobile_phone="+12025550142")
    make_profile(mobile_phone="+12025550143", sms_opt_out=True)
    delivery = analysed(channel="sms", subject="", body="Hi {{ first_name }}, sale!")

    send_delivery(delivery=delivery)

    assert [message.to for message in sms.outbox] == ["+12025550142"]
    text = sms.outbox[0].body
    assert text.startswith("Hi Ann, sale!\nStop: http")
    assert "/p/unsubscribe/" in text
    assert mail.outbox == []


def test_the_console_sms_backend_prints_each_message(
    make_profile, analysed, settings, capsys
):
    settings.SMS_BACKEND = "delivery.sms.ConsoleSmsBackend"
    make_profile(first_name="Ann", mobile_phone="+12025550142")
    delivery = analysed(channel="sms", subject="", body="Hi {{ unsubscribe_url }}")

    send_delivery(delivery=delivery)

    printed = capsys.readouterr().out
    assert "SMS to +12025550142" in printed
    # The author placed the link; it is not added a second time.
    assert printed.count("/p/unsubscribe/") == 1


@pytest.mark.parametrize("size", [10, 40])
def test_sending_a_batch_takes_the_same_queries_whatever_its_size(
    smtp_server, make_profile, analysed, settings, django_assert_num_queries, size
):
    settings.DELIVERY_BATCH_SIZE = 100
    settings.DELIVERY_SEND_SLICE = 100
    for n in range(size):
        make_profile(email=f"p{n}@example.com")
    late = make_profile(email="late@example.com")
    delivery = analysed()
    record_opt_out(profile=late, origin=Origin("operator"))

    # Start (lock, save, event), plan; per batch: delivery, fail stale
    # sends, claim, re-check, skip and its counter, profiles, mark sending,
    # mark sent and its counter, look up addresses with errors, release;
    # finish (lock, check, save, event); and the savepoints of the two
    # transactions.
    with django_assert_num_queries(24):
        result = send_delivery(delivery=delivery)

    assert (result.sent, result.skipped) == (size, 1)
    assert len(smtp_server.messages) == size


def test_a_name_outside_ascii_reaches_the_recipient_intact(
    smtp_server, make_profile, analysed
):
    make_profile(first_name="João", last_name="Conceição", email="joao@example.com")
    delivery = analysed(subject="Olá {{ first_name }}", body="Caro {{ full_name }}")

    send_delivery(delivery=delivery)

    [message] = smtp_server.messages
    assert message["To"].addresses[0].display_name == "João Conceição"
    assert message["Subject"] == "Olá João"
    assert message.get_body(("plain",)).get_content().startswith("Caro João Conceição")


def test_an_sms_backend_that_cannot_be_loaded_stops_cleanly(
    make_profile, analysed, settings
):
    settings.SMS_BACKEND = "delivery.sms.NoSuchBackend"
    make_profile(mobile_phone="+12025550142")
    delivery = analysed(channel="sms", subject="", body="Hi")

    with pytest.raises(sending.SendingStopped, match="cannot be loaded"):
        send_delivery(delivery=delivery)

    assert Recipient.objects.get(delivery=delivery).status == "pending"
