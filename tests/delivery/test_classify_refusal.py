"""classify_refusal: which refusals at send time quarantine an address."""

import pytest

from delivery.sending import classify_refusal


@pytest.mark.parametrize(
    ("code", "text", "kind", "reason", "status_code"),
    [
        (
            550,
            "5.1.1 <a@example.com>: Recipient address rejected",
            "hard",
            "user_unknown",
            "5.1.1",
        ),
        (550, "5.1.2 Host unknown", "hard", "invalid_domain", "5.1.2"),
        (
            556,
            "5.1.10 Recipient domain does not accept mail",
            "hard",
            "invalid_domain",
            "5.1.10",
        ),
        (550, "No such user here", "hard", "user_unknown", ""),
        (550, "5.7.1 Message rejected as spam", "soft", "refused", "5.7.1"),
        (
            554,
            "5.7.1 Client host blocked using a blocklist",
            "soft",
            "refused",
            "5.7.1",
        ),
        (550, "Sender address rejected: not owned", "soft", "refused", ""),
        (552, "5.2.2 Mailbox full", "soft", "mailbox_full", "5.2.2"),
        (452, "4.2.2 Over quota", "soft", "mailbox_full", "4.2.2"),
        # A disabled mailbox is about the address itself: hard.
        (550, "5.2.1 Mailbox disabled", "hard", "account_disabled", "5.2.1"),
        (451, "4.4.1 No answer from host", "soft", "unreachable", "4.4.1"),
        (450, "Greylisted, try again later", "soft", "unreachable", ""),
    ],
)
def test_only_refusals_about_the_address_itself_are_hard(
    code, text, kind, reason, status_code
):
    failure = classify_refusal(code, text)

    assert (failure.kind, failure.reason, failure.status_code) == (
        kind,
        reason,
        status_code,
    )
    assert failure.diagnostic == f"{code} {text}"
