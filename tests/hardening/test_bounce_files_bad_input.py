"""import_bounces against generated and damaged messages: no traceback.

Real bounces are damaged on the way (cut short, wrong charsets, broken
MIME); the command reads what it can, reports what it cannot, and never
stops with an exception other than a CommandError. A dry run prints one
JSON object per message and writes nothing.
"""

import json
import random
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from delivery.quarantine.models import Address, Bounce, Status, StatusChange

FIXTURES = Path(__file__).resolve().parent.parent / "quarantine" / "fixtures"
SAMPLES = sorted(FIXTURES.glob("*.eml"))
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

header_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60)
odd_text = st.one_of(
    header_text,
    st.sampled_from(
        [
            "",
            "5.1.1",
            "4.2.2",
            "9.9.9",
            "5.1",
            "smtp; 550 5.1.1 user unknown",
            "smtp; 552 mailbox full",
            "rfc822; ana.bounce@example.com",
            "rfc822;",
            "=?utf-8?b?////?=",
            "=?bogus-charset?q?x?=",
            "\x00",
        ]
    ),
)


@st.composite
def dsn_messages(draw) -> bytes:
    """A delivery status notification with every field drawn at random."""
    boundary = draw(st.sampled_from(["b1", "", "x" * 80, '"quoted"']))
    charset = draw(st.sampled_from(["utf-8", "us-ascii", "bogus", "utf-16", ""]))
    recipient = draw(
        st.one_of(
            st.sampled_from(
                ["rfc822; ana.bounce@example.com", "rfc822;ANA.Bounce@Example.COM "]
            ),
            odd_text,
        )
    )
    parts = [
        "From: Mail Delivery System <MAILER-DAEMON@mx.example>",
        f"To: {draw(odd_text)}",
        f"Subject: {draw(odd_text)}",
        f"Date: {draw(st.sampled_from(['Tue, 10 Mar 2026 14:05:22 +0000', 'x']))}",
        f"Message-ID: <{draw(header_text)}@mx.example>",
        "MIME-Version: 1.0",
        f"Content-Type: multipart/report; report-type=delivery-status; "
        f"boundary={boundary}",
        "",
        f"--{boundary}",
        f"Content-Type: text/plain; charset={charset}",
        "",
        draw(odd_text),
        f"--{boundary}",
        "Content-Type: message/delivery-status",
        "",
        f"Reporting-MTA: dns; {draw(odd_text)}",
        "",
        f"Final-Recipient: {recipient}",
        f"Action: {draw(st.sampled_from(['failed', 'delayed', 'delivered', '']))}",
        f"Status: {draw(odd_text)}",
        f"Diagnostic-Code: {draw(odd_text)}",
        "",
        f"--{boundary}" + draw(st.sampled_from(["--", "", "-- trailing"])),
    ]
    text = "\r\n".join(parts)
    cut = draw(st.integers(min_value=0, max_value=len(text)))
    if draw(st.booleans()):
        text = text[:cut]
    return text.encode("utf-8", "surrogateescape")


@st.composite
def damaged_samples(draw) -> bytes:
    """A real bounce from the fixtures, with bytes changed, cut or doubled."""
    data = bytearray(draw(st.sampled_from(SAMPLES)).read_bytes())
    rng = random.Random(draw(st.integers(min_value=0, max_value=10**6)))
    for _damage in range(draw(st.integers(min_value=0, max_value=6))):
        if not data:
            break
        position = rng.randrange(len(data))
        kind = rng.randrange(3)
        if kind == 0:
            data[position] = rng.randrange(256)
        elif kind == 1:
            del data[position : position + rng.randrange(1, 40)]
        else:
            data[position:position] = data[position : position + 50]
    return bytes(data)


messages = st.one_of(dsn_messages(), damaged_samples(), st.binary(max_size=500))


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_bounces", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def state() -> tuple:
    return (
        Address.objects.count(),
        Bounce.objects.count(),
        StatusChange.objects.count(),
    )


def import_or_refuse(*args) -> tuple[str, str] | None:
    try:
        return run(*args)
    except CommandError as refused:
        assert "Traceback" not in str(refused)
        return None


def assert_quarantine_is_consistent() -> None:
    for address in Address.objects.all():
        assert address.status in Status.values
        assert address.address == address.address.strip().lower()
        last = address.status_changes.order_by("-id").first()
        assert last is None or last.new_status == address.status


@pytest.fixture
def spool(tmp_path_factory):
    return tmp_path_factory.mktemp("bounces")


@HYPOTHESIS
@given(message=messages)
def test_any_message_is_applied_or_reported_and_the_quarantine_stays_sound(
    db, spool, message
):
    path = spool / "message.eml"
    path.write_bytes(message)

    with transaction.atomic():
        import_or_refuse(str(path))
        assert_quarantine_is_consistent()
        event("a bounce applied" if Bounce.objects.exists() else "nothing applied")
        transaction.set_rollback(True)


@HYPOTHESIS
@given(batch=st.lists(messages, min_size=1, max_size=5))
def test_a_dry_run_prints_one_json_object_per_message_and_writes_nothing(
    db, spool, batch
):
    mbox = spool / "bounces.mbox"
    mbox.write_bytes(
        b"".join(
            b"From MAILER-DAEMON Tue Mar 10 14:05:22 2026\n"
            + message.replace(b"\nFrom ", b"\n>From ")
            + b"\n"
            for message in batch
        )
    )
    before = state()

    result = import_or_refuse("--dry-run", "--json", str(mbox))

    assert state() == before
    if result is not None:
        for line in result[0].splitlines():
            found = json.loads(line)
            assert set(found) == {"source", "bounce", "recipients"}
            for recipient in found["recipients"]:
                assert recipient["kind"] in ("hard", "soft", "ignored")


@HYPOTHESIS
@given(names=st.lists(st.binary(min_size=1, max_size=20), max_size=4))
def test_a_maildir_with_odd_file_names_and_contents_is_read_without_a_traceback(
    db, spool, names
):
    maildir = spool / "Maildir"
    for folder in ("cur", "new", "tmp"):
        (maildir / folder).mkdir(parents=True, exist_ok=True)
    for number, content in enumerate(names):
        (maildir / "new" / f"{number}.odd\udcff").write_bytes(content)

    with transaction.atomic():
        import_or_refuse(str(maildir))
        transaction.set_rollback(True)


def test_a_path_that_does_not_exist_is_a_clear_error(db, spool):
    with pytest.raises(CommandError) as refused:
        run(str(spool / "missing.eml"))

    assert "missing.eml: no such file or directory" in str(refused.value)
