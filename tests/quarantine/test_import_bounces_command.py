"""import_bounces: .eml files, maildirs and mbox files through the actions."""

import json
import shutil
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from delivery.quarantine.models import Address, Bounce, Status, StatusChange

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_bounces", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def json_lines(output):
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_dry_run_json_prints_the_contract_and_changes_nothing(fixtures_dir):
    out, _ = run(fixtures_dir / "postfix_user_unknown.eml", "--dry-run", "--json")

    assert json_lines(out) == [
        {
            "source": str(fixtures_dir / "postfix_user_unknown.eml"),
            "bounce": True,
            "recipients": [
                {
                    "address": "nobody.here@example.org",
                    "kind": "hard",
                    "reason": "user_unknown",
                    "status": "5.1.1",
                    "diagnostic": "550 5.1.1 <nobody.here@example.org>: "
                    "Recipient address rejected: User unknown in virtual "
                    "mailbox table",
                }
            ],
        }
    ]
    assert not Address.objects.exists()
    assert not Bounce.objects.exists()


def test_a_bounce_quarantines_its_address_and_keeps_the_raw_report(fixtures_dir):
    path = fixtures_dir / "gmail_no_such_user.eml"

    out, _ = run(path)

    row = Address.objects.get()
    assert (row.address, row.status, row.reason) == (
        "no.such.person.4711@gmail.com",
        Status.QUARANTINED,
        "user_unknown",
    )
    bounce = Bounce.objects.get()
    assert bounce.source == StatusChange.Source.BOUNCE
    assert bounce.origin == str(path)
    assert bounce.status_code == "5.1.1"
    assert "Delivery Status Notification (Failure)" in bounce.raw
    assert StatusChange.objects.get().source == StatusChange.Source.BOUNCE
    assert "1 hard" in out
    assert "no.such.person" not in out


def test_a_whole_folder_of_fixtures_imports_and_reports_the_bad_files(
    fixtures_dir, tmp_path
):
    for path in fixtures_dir.glob("*.eml"):
        shutil.copy(path, tmp_path)

    out, err = run(tmp_path)

    assert "Read 26 messages" in out
    assert "unreadable: 3" in out
    for name in ("broken_not_a_message.eml", "truncated_dsn.eml", "empty.eml"):
        assert f"{tmp_path / name}: unreadable, skipped" in err
    # Hard bounces quarantine, the rest count towards it or not at all.
    statuses = dict(Address.objects.values_list("address", "status"))
    assert statuses["nobody.here@example.org"] == Status.QUARANTINED
    assert statuses["full.box@example.net"] == Status.WITH_ERRORS
    assert statuses["buyer@corp.example"] == Status.WITH_ERRORS
    assert statuses["second.waiting@example.org"] == Status.VALID
    assert "happy.reader@example.org" not in statuses
    assert "maria.holiday@example.com" not in statuses
    # The output to the operator names no address.
    assert "@" not in out.replace("@domain", "")


def test_maildir_and_mbox_are_read_message_by_message(fixtures_dir):
    out, _ = run(
        fixtures_dir / "maildir", fixtures_dir / "bounces.mbox", "--dry-run", "--json"
    )

    lines = json_lines(out)
    sources = [line["source"] for line in lines]
    assert sources == [
        str(fixtures_dir / "maildir/new/1773908211.M512P28851.mx,S=1184,W=1210"),
        str(fixtures_dir / "maildir/cur/1772529601.M88P3301.mx,S=2101,W=2150:2,S"),
        str(fixtures_dir / "maildir/cur/1773999080.M7P31337.mx,S=1020,W=1042:2,S"),
        f"{fixtures_dir / 'bounces.mbox'}#1",
        f"{fixtures_dir / 'bounces.mbox'}#2",
        f"{fixtures_dir / 'bounces.mbox'}#3",
    ]
    assert [line["bounce"] for line in lines] == [True, False, True, True, False, True]
    assert [r["address"] for line in lines for r in line["recipients"]] == [
        "left.company@example.info",
        "deleted.user.2004@yahoo.com",
        "old.account@example.co.uk",
        "full.box@example.net",
    ]


def test_importing_the_same_mailbox_twice_counts_each_bounce_once(fixtures_dir):
    run(fixtures_dir / "bounces.mbox")

    out, _ = run(fixtures_dir / "bounces.mbox")

    assert Bounce.objects.count() == 2
    assert Address.objects.get(address="full.box@example.net").error_count == 1
    assert "2 were already imported" in out


def test_a_non_bounce_is_reported_and_changes_nothing(fixtures_dir):
    out, _ = run(
        fixtures_dir / "delivery_success.eml",
        fixtures_dir / "auto_reply_out_of_office.eml",
        "--json",
    )

    assert [line["bounce"] for line in json_lines(out)] == [False, False]
    assert not Address.objects.exists()


def test_broken_files_are_reported_in_json_and_the_import_goes_on(fixtures_dir):
    out, err = run(
        fixtures_dir / "empty.eml",
        fixtures_dir / "truncated_dsn.eml",
        fixtures_dir / "exim_user_unknown.eml",
        "--json",
    )

    lines = json_lines(out)
    assert [(line["bounce"], line["recipients"]) for line in lines[:2]] == [
        (False, []),
        (False, []),
    ]
    assert lines[2]["bounce"] is True
    assert "the file is empty" in err
    assert "truncated" in err
    assert Address.objects.get().address == "old.account@example.co.uk"


def test_non_utf8_bytes_in_a_file_and_its_name_are_printed_safely(
    fixtures_dir, tmp_path
):
    name = "latin1-\udce9.eml"
    target = tmp_path / name
    target.write_bytes((fixtures_dir / "non_utf8_latin1.eml").read_bytes())

    out, _ = run(target, "--dry-run", "--json")

    line = json_lines(out)[0]
    assert line["source"].endswith("latin1-?.eml")
    assert "boîte" in line["recipients"][0]["diagnostic"]


def test_a_path_that_does_not_exist_stops_before_anything_is_read(
    fixtures_dir, tmp_path
):
    with pytest.raises(CommandError, match="no-such-file.eml: no such file"):
        run(fixtures_dir / "gmail_no_such_user.eml", tmp_path / "no-such-file.eml")

    assert not Address.objects.exists()


def test_an_invalid_address_in_a_report_is_skipped(tmp_path, fixtures_dir):
    data = (fixtures_dir / "amazon_ses_user_unknown.eml").read_text()
    broken = tmp_path / "bad-address.eml"
    broken.write_text(data.replace("rfc822; gone.away@example.edu", "rfc822; gone@@x"))

    out, _ = run(broken)

    assert "1 invalid addresses skipped" in out
    assert not Address.objects.exists()


def test_progress_is_shown_on_stderr_for_large_imports(fixtures_dir, monkeypatch):
    from delivery.quarantine.management.commands import import_bounces

    monkeypatch.setattr(import_bounces, "PROGRESS_EVERY", 2)
    monkeypatch.setattr(import_bounces, "MESSAGES_PER_TRANSACTION", 2)

    _, err = run(fixtures_dir / "maildir", fixtures_dir / "bounces.mbox", "--dry-run")

    assert "… 2 messages read" in err
    assert "… 6 messages read" in err
