"""Classification of one failure from its status code and diagnostic text."""

import pytest

from delivery.quarantine.classify import classify, find_reply_code, find_status


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        # Address-level and permanent: hard.
        ("5.1.1", "550 5.1.1 user unknown", ("hard", "user_unknown")),
        (
            "",
            "550 Requested action not taken: mailbox unavailable",
            ("hard", "user_unknown"),
        ),
        ("5.1.2", "", ("hard", "invalid_domain")),
        (
            "5.1.10",
            "Domain example.com does not accept mail (nullMX)",
            ("hard", "invalid_domain"),
        ),
        (
            "5.1.10",
            "RESOLVER.ADR.RecipientNotFound; Recipient not found",
            ("hard", "user_unknown"),
        ),
        (
            "5.2.1",
            "The email account that you tried to reach is disabled.",
            ("hard", "account_disabled"),
        ),
        (
            "5.4.1",
            "550 5.4.1 Recipient address rejected: Access denied",
            ("hard", "user_unknown"),
        ),
        (
            "5.0.0",
            "550 5.1.1 <x@example.com>: Recipient address rejected",
            ("hard", "user_unknown"),
        ),
        # The same words, but temporary: soft.
        (
            "4.1.1",
            "450 4.1.1 Recipient address rejected: unverified address",
            ("soft", "user_unknown"),
        ),
        ("4.4.4", "Host or domain name not found", ("soft", "unreachable")),
        # Full mailboxes are soft whatever the class.
        ("5.2.2", "552 mailbox full", ("soft", "mailbox_full")),
        (
            "",
            "554 delivery error: This user's mailbox is full",
            ("soft", "mailbox_full"),
        ),
        # About the sender: soft, never the address's fault.
        (
            "5.7.1",
            "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
            ("soft", "refused"),
        ),
        ("", "550 Message rejected as spam by Content Filtering", ("soft", "refused")),
        (
            "5.1.1",
            "550 5.1.1 sender IP has a poor reputation, blocked",
            ("soft", "refused"),
        ),
        (
            "",
            "421 4.7.0 [TSS04] Messages temporarily deferred due to unexpected volume",
            ("soft", "refused"),
        ),
        (
            "5.7.26",
            "Unauthenticated email is not accepted due to domain's DMARC policy",
            ("soft", "refused"),
        ),
        # Network trouble: soft.
        (
            "4.4.1",
            "connect to mx.example.com: Connection timed out",
            ("soft", "unreachable"),
        ),
        ("4.4.7", "Delivery time expired", ("soft", "unreachable")),
        # Nothing recognisable: soft, unknown.
        ("", "550 Unrouteable garbage text", ("soft", "unknown")),
        ("5.0.0", "", ("soft", "unknown")),
        # Out of office and not connected: ignored.
        ("", "Automatic reply: I am out of the office", ("ignored", "not_connected")),
        ("", "subscriber not connected", ("ignored", "not_connected")),
    ],
)
def test_failure_is_classified(status, diagnostic, expected):
    result = classify(status=status, diagnostic=diagnostic)

    assert (result.kind, result.reason) == expected


def test_a_delay_warning_is_ignored_whatever_its_reason():
    result = classify(status="5.1.1", diagnostic="user unknown", action="delayed")

    assert (result.kind, result.reason) == ("ignored", "user_unknown")


def test_the_status_is_taken_from_the_text_when_the_report_has_none():
    assert classify(diagnostic="550-5.1.1 The email account").status == "5.1.1"
    assert classify(status="5.0.0", diagnostic="550 5.2.1 disabled").status == "5.2.1"


@pytest.mark.parametrize(
    ("text", "status", "reply"),
    [
        ("smtp; 550 5.1.1 <a@b>", "5.1.1", "550"),
        ("host 10.5.1.1 said: 451 try later", "", "451"),
        ("554: delivery error", "", "554"),
        ("status 5.7.26.", "5.7.26", ""),
    ],
)
def test_codes_are_found_without_mistaking_ip_addresses(text, status, reply):
    assert find_status(text) == status
    assert find_reply_code(text) == reply
