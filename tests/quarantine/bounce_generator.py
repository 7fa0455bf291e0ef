"""Write many realistic bounce messages, for import timing and volume tests.

Each message is one of the fixtures with its recipient and Message-ID
replaced, so the shapes are those real servers write. Run it as

    python -m tests.quarantine.bounce_generator OUT.mbox --count 10000
    python -m tests.quarantine.bounce_generator OUT_DIR --count 10000 --maildir

and then time `manage.py import_bounces OUT.mbox`.
"""

import argparse
import mailbox
import re
from collections import Counter
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

# fixture -> (its recipient, the kind it is classified as, or "" for a
# message that is not a bounce).
TEMPLATES = {
    "postfix_user_unknown.eml": ("nobody.here@example.org", "hard"),
    "postfix_mailbox_full.eml": ("full.box@example.net", "soft"),
    "postfix_host_not_found.eml": ("jane@gmial.example", "hard"),
    "postfix_sender_blocklisted.eml": ("buyer@corp.example", "soft"),
    "postfix_delayed.eml": ("slow.server@example.com", "ignored"),
    "exim_user_unknown.eml": ("old.account@example.co.uk", "hard"),
    "office365_recipient_not_found.eml": ("p.lastname@contoso.example", "hard"),
    "exchange_quota_exceeded.eml": ("b.stone@fabrikam.example", "soft"),
    "gmail_no_such_user.eml": ("no.such.person.4711@gmail.com", "hard"),
    "gmail_over_quota.eml": ("hoarder.mail@gmail.com", "soft"),
    "amazon_ses_user_unknown.eml": ("gone.away@example.edu", "hard"),
    "qmail_user_unknown.eml": ("left.company@example.info", "hard"),
    "yahoo_no_account.eml": ("deleted.user.2004@yahoo.com", "hard"),
    "auto_reply_out_of_office.eml": ("maria.holiday@example.com", ""),
    "delivery_success.eml": ("happy.reader@example.org", ""),
}
DOMAINS = ("example.com", "example.net", "example.org", "mail.example", "corp.example")
_MESSAGE_ID = re.compile(rb"^(Message-I[Dd]:).*$", re.MULTILINE)


def generate(count: int, *, distinct_addresses: int | None = None):
    """Yield (bytes, kind) for `count` messages; addresses repeat when
    `distinct_addresses` is smaller than the count, as in real mailboxes."""
    pool = distinct_addresses or count
    templates = [
        ((FIXTURES / name).read_bytes(), recipient.encode(), kind)
        for name, (recipient, kind) in TEMPLATES.items()
    ]
    for number in range(count):
        data, recipient, kind = templates[number % len(templates)]
        person = number % pool
        address = f"bench.{person:06d}@{DOMAINS[person % len(DOMAINS)]}".encode()
        data = re.sub(re.escape(recipient), address, data, flags=re.IGNORECASE)
        data = _MESSAGE_ID.sub(
            rb"\1 <bench." + str(number).encode() + rb"@generator.example>", data, 1
        )
        yield data, kind


def write_mbox(path: Path, count: int, **options) -> Counter:
    """Write an mbox; return how many messages of each kind it holds."""
    kinds: Counter = Counter()
    box = mailbox.mbox(str(path))
    box.lock()
    try:
        for data, kind in generate(count, **options):
            box.add(data)
            kinds[kind or "not a bounce"] += 1
        box.flush()
    finally:
        box.unlock()
        box.close()
    return kinds


def write_maildir(path: Path, count: int, **options) -> Counter:
    kinds: Counter = Counter()
    box = mailbox.Maildir(str(path), create=True)
    for data, kind in generate(count, **options):
        box.add(data)
        kinds[kind or "not a bounce"] += 1
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--distinct-addresses", type=int, default=None)
    parser.add_argument("--maildir", action="store_true")
    options = parser.parse_args()
    write = write_maildir if options.maildir else write_mbox
    kinds = write(
        options.out, options.count, distinct_addresses=options.distinct_addresses
    )
    print(f"{options.count} messages written to {options.out}: {dict(kinds)}")  # noqa: T201


if __name__ == "__main__":
    main()
