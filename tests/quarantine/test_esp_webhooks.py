"""Provider events through django-anymail's tracking webhooks.

The payloads have the shapes Postmark and Mailgun post; they go through the
real URLs, with basic auth, and (for Mailgun) a real HMAC signature.
"""

import base64
import hashlib
import hmac
import json

import pytest

from consent.models import ConsentEvent
from delivery.quarantine.actions import record_error
from delivery.quarantine.models import Address, Bounce, Status, StatusChange

pytestmark = pytest.mark.django_db

SECRET = "provider:a-long-random-webhook-password"
SIGNING_KEY = "mailgun-signing-key-for-tests"
POSTMARK = "/webhooks/postmark/tracking/"
MAILGUN = "/webhooks/mailgun/tracking/"


@pytest.fixture(autouse=True)
def webhook_settings(settings):
    settings.ANYMAIL = {
        "WEBHOOK_SECRET": SECRET,
        "MAILGUN_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
    }


def auth(credentials=SECRET):
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def post(client, url, payload, credentials=SECRET):
    return client.post(
        url,
        data=json.dumps(payload),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth(credentials),
    )


def postmark_bounce(**changes):
    payload = {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "newsletter",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message "
        "(ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach "
        "does not exist. Please try double-checking the recipient's email "
        "address for typos.",
        "Email": "Gone.Reader@example.com",
        "From": "news@sender.example",
        "BouncedAt": "2026-03-05T12:21:01Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Our March newsletter",
    }
    payload.update(changes)
    return payload


def mailgun(event_data, token="5f1c0b7e9d2a4c6b8e0f1a3c5e7d9b1f3a5c7e9d1b3f5a7c"):
    timestamp = "1772713261"
    signature = hmac.new(
        SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "id": "G9Bn5sl1TC6nu79C8C0bwg",
            "timestamp": 1772713261.643,
            "log-level": "error",
            "message": {
                "headers": {
                    "to": event_data.get("recipient", ""),
                    "message-id": "20260305122101.1.A1B2C3@mg.sender.example",
                    "from": "news@sender.example",
                    "subject": "Our March newsletter",
                }
            },
            "tags": ["newsletter"],
            "user-variables": {},
            "flags": {"is-routed": False, "is-authenticated": True},
            **event_data,
        },
    }


def test_postmark_hard_bounce_quarantines_the_address(client):
    response = post(client, POSTMARK, postmark_bounce())

    assert response.status_code == 200
    row = Address.objects.get()
    assert (row.address, row.status, row.reason) == (
        "gone.reader@example.com",
        Status.QUARANTINED,
        "user_unknown",
    )
    bounce = Bounce.objects.get()
    assert bounce.source == StatusChange.Source.ESP_WEBHOOK
    assert bounce.status_code == "5.1.1"
    assert bounce.origin == "Postmark bounced event 4323372036854775807"
    assert '"RecordType": "Bounce"' in bounce.raw
    assert StatusChange.objects.get().source == StatusChange.Source.ESP_WEBHOOK


def test_a_retried_postmark_event_counts_once(client):
    soft = postmark_bounce(
        Type="SoftBounce",
        Details="smtp;452 4.2.2 The recipient's inbox is out of storage space.",
    )

    post(client, POSTMARK, soft)
    post(client, POSTMARK, soft)

    row = Address.objects.get()
    assert (row.status, row.reason, row.error_count) == (
        Status.WITH_ERRORS,
        "mailbox_full",
        1,
    )
    assert Bounce.objects.count() == 1


def test_postmark_spam_complaint_denylists_the_address(client):
    payload = postmark_bounce(
        RecordType="SpamComplaint",
        Type="SpamComplaint",
        TypeCode=512,
        Name="Spam complaint",
        Description="The subscriber explicitly marked this message as spam.",
        Details="Test spam complaint details",
    )

    assert post(client, POSTMARK, payload).status_code == 200

    row = Address.objects.get()
    assert (row.status, row.reason) == (Status.DENYLISTED, "spam_complaint")
    assert StatusChange.objects.get().source == StatusChange.Source.ESP_WEBHOOK


def test_postmark_unsubscribe_opts_out_every_profile_with_the_address(
    client, make_profile
):
    first = make_profile(email="shared@example.com")
    second = make_profile(email="shared@example.com")
    other = make_profile(email="other@example.com")
    payload = {
        "RecordType": "SubscriptionChange",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2026-03-05T12:30:00Z",
        "Recipient": "Shared@Example.com",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "newsletter",
        "Metadata": {},
    }

    assert post(client, POSTMARK, payload).status_code == 200

    for profile in (first, second, other):
        profile.refresh_from_db()
    assert (first.email_opt_out, second.email_opt_out, other.email_opt_out) == (
        True,
        True,
        False,
    )
    events = ConsentEvent.objects.filter(source=ConsentEvent.Source.ESP_WEBHOOK)
    assert sorted(events.values_list("profile_id", "action", "channel")) == [
        (first.pk, "opt_out", "email"),
        (second.pk, "opt_out", "email"),
    ]
    assert not Address.objects.exists()


def test_postmark_delivery_returns_an_address_with_errors_to_valid(client):
    record_error(
        address="slow@example.com",
        channel="email",
        kind="soft",
        reason="unreachable",
        source=StatusChange.Source.BOUNCE,
    )
    payload = {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "slow@example.com",
        "Tag": "newsletter",
        "DeliveredAt": "2026-03-05T12:40:00Z",
        "Details": "Test delivery webhook details",
        "Metadata": {},
    }

    assert post(client, POSTMARK, payload).status_code == 200

    assert Address.objects.get().status == Status.VALID


def test_mailgun_permanent_failure_quarantines_the_address(client):
    payload = mailgun(
        {
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "recipient": "left@example.org",
            "delivery-status": {
                "attempt-no": 1,
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does "
                "not exist.",
                "description": "",
                "enhanced-code": "5.1.1",
            },
        }
    )

    assert post(client, MAILGUN, payload).status_code == 200

    row = Address.objects.get()
    assert (row.address, row.status, row.reason) == (
        "left@example.org",
        Status.QUARANTINED,
        "user_unknown",
    )
    assert Bounce.objects.get().message_id.startswith("Mailgun:")


def test_mailgun_rejection_of_the_sender_is_only_soft(client):
    payload = mailgun(
        {
            "event": "failed",
            "severity": "permanent",
            "reason": "generic",
            "recipient": "buyer@corp.example",
            "delivery-status": {
                "code": 554,
                "message": "5.7.1 Service unavailable; Client host [198.51.100.7] "
                "blocked using zen.spamhaus.org",
                "description": "",
            },
        }
    )

    post(client, MAILGUN, payload)

    row = Address.objects.get()
    assert (row.status, row.reason, row.error_count) == (
        Status.WITH_ERRORS,
        "refused",
        1,
    )


def test_mailgun_temporary_failure_changes_nothing(client):
    payload = mailgun(
        {
            "event": "failed",
            "severity": "temporary",
            "reason": "generic",
            "recipient": "slow@example.org",
            "delivery-status": {"code": 421, "message": "4.4.1 Connection timed out"},
        }
    )

    assert post(client, MAILGUN, payload).status_code == 200

    assert not Address.objects.exists()


def test_mailgun_complaint_denylists_the_address(client):
    payload = mailgun({"event": "complained", "recipient": "angry@example.org"})

    assert post(client, MAILGUN, payload).status_code == 200

    assert Address.objects.get().status == Status.DENYLISTED


def test_a_wrong_password_is_refused_and_nothing_is_written(client, make_profile):
    make_profile(email="shared@example.com")

    wrong = post(client, POSTMARK, postmark_bounce(), credentials="provider:guess")
    missing = client.post(
        POSTMARK, data=json.dumps(postmark_bounce()), content_type="application/json"
    )

    assert (wrong.status_code, missing.status_code) == (400, 400)
    assert not Address.objects.exists()
    assert not Bounce.objects.exists()


def test_a_forged_mailgun_signature_is_refused(client):
    payload = mailgun({"event": "complained", "recipient": "angry@example.org"})
    payload["signature"]["signature"] = "0" * 64

    assert post(client, MAILGUN, payload).status_code == 400

    assert not Address.objects.exists()


def test_an_event_without_a_valid_recipient_is_accepted_and_ignored(client):
    response = post(client, POSTMARK, postmark_bounce(Email="not an address"))

    assert response.status_code == 200
    assert not Address.objects.exists()


def test_a_postmark_spam_filter_notice_is_only_a_soft_error(client):
    payload = postmark_bounce(
        Type="SpamNotification",
        TypeCode=512,
        Name="Spam notification",
        Description="The message was delivered, but was either blocked by the "
        "user, or classified as spam, bulk mail, or had rejected content.",
        Details="",
    )

    assert post(client, POSTMARK, payload).status_code == 200

    row = Address.objects.get()
    assert (row.status, row.reason, row.error_count) == (
        Status.WITH_ERRORS,
        "refused",
        1,
    )


def test_a_provider_whose_signing_key_is_missing_gets_503_not_500(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "provider:secret"}
    auth = "Basic " + base64.b64encode(b"provider:secret").decode()

    response = client.post(
        "/webhooks/mailgun/tracking/",
        data="{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )

    assert response.status_code == 503
    assert "not configured" in response.content.decode()
    assert not Address.objects.exists()
