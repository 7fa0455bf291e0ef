"""Every bounce fixture is read and classified as a person reading it would."""

import pytest

from delivery.quarantine.bounces import UnreadableMessage, read_report

# file -> (bounce?, [(address, kind, reason, status)]); None: unreadable.
EXPECTED = {
    "postfix_user_unknown.eml": (
        True,
        [("nobody.here@example.org", "hard", "user_unknown", "5.1.1")],
    ),
    "postfix_mailbox_full.eml": (
        True,
        [("full.box@example.net", "soft", "mailbox_full", "5.2.2")],
    ),
    "postfix_null_mx.eml": (
        True,
        [("contact@parked-domain.example", "hard", "invalid_domain", "5.1.10")],
    ),
    "postfix_host_not_found.eml": (
        True,
        [("jane@gmial.example", "hard", "invalid_domain", "5.4.4")],
    ),
    "postfix_delayed.eml": (
        True,
        [("slow.server@example.com", "ignored", "unreachable", "4.4.1")],
    ),
    "postfix_connection_expired.eml": (
        True,
        [("slow.server@example.com", "soft", "unreachable", "4.4.1")],
    ),
    "postfix_sender_blocklisted.eml": (
        True,
        [("buyer@corp.example", "soft", "refused", "5.7.1")],
    ),
    "postfix_multiple_recipients.eml": (
        True,
        [
            ("first.gone@example.org", "hard", "user_unknown", "5.1.1"),
            ("second.waiting@example.org", "ignored", "unreachable", "4.3.0"),
        ],
    ),
    "exim_user_unknown.eml": (
        True,
        [("old.account@example.co.uk", "hard", "user_unknown", "5.1.1")],
    ),
    "exim_unrouteable.eml": (
        True,
        [("info@no-such-company.example", "hard", "invalid_domain", "")],
    ),
    "office365_recipient_not_found.eml": (
        True,
        [("p.lastname@contoso.example", "hard", "user_unknown", "5.1.10")],
    ),
    "exchange_quota_exceeded.eml": (
        True,
        [("b.stone@fabrikam.example", "soft", "mailbox_full", "5.2.2")],
    ),
    "gmail_no_such_user.eml": (
        True,
        [("no.such.person.4711@gmail.com", "hard", "user_unknown", "5.1.1")],
    ),
    "gmail_account_disabled.eml": (
        True,
        [("closed.account.1999@gmail.com", "hard", "account_disabled", "5.2.1")],
    ),
    "gmail_over_quota.eml": (
        True,
        [("hoarder.mail@gmail.com", "soft", "mailbox_full", "4.2.2")],
    ),
    "gmail_unauthenticated_sender.eml": (
        True,
        [("loyal.reader@gmail.com", "soft", "refused", "5.7.26")],
    ),
    "amazon_ses_user_unknown.eml": (
        True,
        [("gone.away@example.edu", "hard", "user_unknown", "5.1.1")],
    ),
    "qmail_user_unknown.eml": (
        True,
        [("left.company@example.info", "hard", "user_unknown", "5.1.1")],
    ),
    "yahoo_no_account.eml": (
        True,
        [("deleted.user.2004@yahoo.com", "hard", "user_unknown", "")],
    ),
    "non_utf8_latin1.eml": (
        True,
        [("client.ferme@fournisseur.example", "hard", "user_unknown", "5.1.1")],
    ),
    "auto_reply_out_of_office.eml": (False, []),
    "delivery_success.eml": (False, []),
    "ordinary_reply.eml": (False, []),
    "broken_not_a_message.eml": None,
    "truncated_dsn.eml": None,
    "empty.eml": None,
}


def test_every_fixture_has_an_expectation(fixtures_dir):
    files = {path.name for path in fixtures_dir.glob("*.eml")}

    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_is_classified_as_expected(fixtures_dir, name):
    data = (fixtures_dir / name).read_bytes()
    expected = EXPECTED[name]

    if expected is None:
        with pytest.raises(UnreadableMessage):
            read_report(data)
        return

    report = read_report(data)
    bounce, recipients = expected
    assert report.bounce is bounce
    assert [
        (r.address, r.kind, r.reason, r.status) for r in report.recipients
    ] == recipients


def test_every_failed_recipient_carries_the_servers_words(fixtures_dir):
    report = read_report((fixtures_dir / "gmail_no_such_user.eml").read_bytes())

    assert report.recipients[0].diagnostic.startswith(
        "550-5.1.1 The email account that you tried to reach does not exist."
    )


def test_latin1_diagnostics_are_read_as_latin1(fixtures_dir):
    report = read_report((fixtures_dir / "non_utf8_latin1.eml").read_bytes())

    assert "boîte aux lettres supprimée" in report.recipients[0].diagnostic


def test_what_is_not_a_bounce_says_what_it_is(fixtures_dir):
    verdicts = {
        name: read_report((fixtures_dir / name).read_bytes()).verdict
        for name in (
            "auto_reply_out_of_office.eml",
            "delivery_success.eml",
            "ordinary_reply.eml",
        )
    }

    assert verdicts == {
        "auto_reply_out_of_office.eml": "auto-reply",
        "delivery_success.eml": "delivery success",
        "ordinary_reply.eml": "not a bounce",
    }


def test_the_failure_time_is_the_reports_date(fixtures_dir):
    report = read_report((fixtures_dir / "postfix_connection_expired.eml").read_bytes())

    assert report.occurred_at.isoformat() == "2026-03-11T09:00:03+00:00"
