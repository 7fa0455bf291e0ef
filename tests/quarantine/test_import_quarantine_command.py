"""import_quarantine FILE.csv: all rows valid or nothing written."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from delivery.quarantine.actions import denylist_address, record_error
from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db


def write(tmp_path, text, name="quarantine.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_quarantine", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_valid_file_sets_each_status_and_records_it_as_an_import(tmp_path):
    path = write(
        tmp_path,
        "address,channel,status,reason\n"
        "Gone@Example.com,email,quarantined,user_unknown\n"
        "stop@example.com,EMAIL,denylisted,\n"
        "(415) 555-0100,sms,denylisted,refused\n"
        "seed@example.com,email,allowlisted,\n"
        "fine@example.com,email,valid,\n",
    )

    out, _ = run(path)

    assert set(
        Address.objects.values_list("address", "channel", "status", "reason")
    ) == {
        ("gone@example.com", "email", Status.QUARANTINED, "user_unknown"),
        ("stop@example.com", "email", Status.DENYLISTED, "manual"),
        ("+14155550100", "sms", Status.DENYLISTED, "refused"),
        ("seed@example.com", "email", Status.ALLOWLISTED, ""),
    }
    assert StatusChange.objects.filter(source=StatusChange.Source.IMPORT).count() == 4
    assert "4 address(es) added, 0 changed, 1 already as listed" in out


def test_existing_rows_are_changed_and_unchanged_ones_left_alone(tmp_path):
    record_error(
        address="gone@example.com",
        channel="email",
        kind="hard",
        reason="user_unknown",
        source=StatusChange.Source.BOUNCE,
    )
    denylist_address(address="stop@example.com", channel="email", source="operator")
    path = write(
        tmp_path,
        "channel,address,status\n"
        "email,gone@example.com,valid\n"
        "email,stop@example.com,denylisted\n",
    )

    out, _ = run(path, "--json")

    assert json.loads(out)["changed"] == 1
    assert json.loads(out)["unchanged"] == 1
    gone = Address.objects.get(address="gone@example.com")
    assert (gone.status, gone.error_count) == (Status.VALID, 0)
    change = StatusChange.objects.get(source=StatusChange.Source.IMPORT)
    assert (change.old_status, change.new_status) == (
        Status.QUARANTINED,
        Status.VALID,
    )


def test_any_bad_row_lists_every_bad_line_and_writes_nothing(tmp_path):
    path = write(
        tmp_path,
        "address,channel,status,reason\n"
        "ok@example.com,email,denylisted,\n"
        "not-an-address,email,denylisted,\n"
        "a@example.com,fax,denylisted,\n"
        "b@example.com,email,sleeping,\n"
        "c@example.com,email,quarantined,bad_luck\n"
        "d@example.com,email,with_errors,\n",
    )

    with pytest.raises(CommandError) as caught:
        run(path)

    message = str(caught.value)
    assert "5 invalid row(s); nothing was imported" in message
    for expected in (
        f"{path}: line 3, address:",
        f"{path}: line 4, channel: 'fax' is not one of email, sms",
        f"{path}: line 5, status: 'sleeping' is not one of",
        f"{path}: line 6, reason: 'bad_luck' is not one of",
        f"{path}: line 7, status: with_errors is reached by counting errors",
    ):
        assert expected in message
    assert not Address.objects.exists()


def test_skip_invalid_imports_the_good_rows_and_lists_the_rest(tmp_path):
    path = write(
        tmp_path,
        "address,channel,status\n"
        "ok@example.com,email,denylisted\n"
        "not-an-address,email,denylisted\n",
    )

    out, err = run(path, "--skip-invalid")

    assert list(Address.objects.values_list("address", flat=True)) == ["ok@example.com"]
    assert f"{path}: line 3, address:" in err
    assert "1 invalid row(s) skipped" in out


def test_conflicting_duplicates_are_an_error_on_the_later_line(tmp_path):
    path = write(
        tmp_path,
        "address,channel,status\n"
        "a@example.com,email,denylisted\n"
        "A@example.com,email,allowlisted\n"
        "a@example.com,email,denylisted\n",
    )

    with pytest.raises(CommandError, match="line 3, address: also on line 2"):
        run(path)


def test_line_numbers_count_quoted_values_that_span_lines(tmp_path):
    path = write(
        tmp_path,
        'address,channel,status,reason\n"ok@example.com",email,denylisted,"manual"\n'
        '"x@example.com",email,"denylisted\nreally",\n'
        "bad,email,denylisted,\n",
    )

    with pytest.raises(CommandError) as caught:
        run(path)

    assert "line 3, status:" in str(caught.value)
    assert "line 5, address:" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "encoding", "message"),
    [
        ("", "utf-8", "the file is empty"),
        ("address,channel\na@example.com,email\n", "utf-8", "missing column status"),
        (
            "address,channel,status,colour\n",
            "utf-8",
            "line 1: unknown column colour",
        ),
        (
            "address,channel,status\nrémi@example.com,email,denylisted\n",
            "latin-1",
            "line 2: the file is not UTF-8 text",
        ),
    ],
)
def test_a_file_that_cannot_be_read_is_refused_whole(
    tmp_path, content, encoding, message
):
    path = write(tmp_path, content, encoding=encoding)

    with pytest.raises(CommandError, match=message):
        run(path, "--skip-invalid")

    assert not Address.objects.exists()


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = write(
        tmp_path, "\ufeffaddress,channel,status\na@example.com,email,denylisted\n"
    )

    run(path)

    assert Address.objects.get().status == Status.DENYLISTED


def test_dry_run_validates_and_writes_nothing(tmp_path):
    path = write(tmp_path, "address,channel,status\na@example.com,email,denylisted\n")

    out, _ = run(path, "--dry-run")

    assert "1 valid row(s), 0 invalid. Dry run" in out
    assert not Address.objects.exists()


def test_large_files_are_written_in_batches(tmp_path, monkeypatch):
    from delivery.quarantine import actions

    monkeypatch.setattr(actions, "BATCH_SIZE", 7)
    rows = "".join(f"user{n}@example.com,email,denylisted\n" for n in range(50))
    path = write(tmp_path, "address,channel,status\n" + rows)

    out, _ = run(path)

    assert Address.objects.filter(status=Status.DENYLISTED).count() == 50
    assert StatusChange.objects.count() == 50
    assert "50 address(es) added" in out
