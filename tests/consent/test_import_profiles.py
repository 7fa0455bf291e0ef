import json

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.models import ConsentEvent, Profile, Service, Subscription

HEADER = (
    "external_id,first_name,last_name,email,mobile_phone,language,"
    "no_longer_contact,email_opt_out,sms_opt_out,services\n"
)


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str, name: str = "profiles.csv", encoding: str = "utf-8"):
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return write


@pytest.fixture
def newsletter(db):
    return Service.objects.create(name="newsletter", label="Newsletter")


def run_import(path, *args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_profiles", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_good_file_creates_profiles_with_normalised_addresses_and_consent(
    csv_file, newsletter
):
    path = csv_file(
        HEADER
        + "c-1,Ana,Silva, Ana@Example.COM ,+55 11 91234-5678,pt-BR,no,yes,,newsletter\n"
        + "c-2,Bob,Jones,bob@example.com,,en,,,1,\n"
    )

    output = run_import(path)

    assert "2 profiles created" in output
    ana = Profile.objects.get(external_id="c-1")
    assert (ana.email, ana.mobile_phone, ana.language) == (
        "ana@example.com",
        "+5511912345678",
        "pt-br",
    )
    assert ana.email_opt_out is True and ana.no_longer_contact is False
    assert Profile.objects.get(external_id="c-2").sms_opt_out is True
    assert set(
        ConsentEvent.objects.values_list("profile__external_id", "action", "channel")
    ) == {
        ("c-1", "opt_out", "email"),
        ("c-2", "opt_out", "sms"),
        ("c-1", "subscribe", "email"),
    }
    assert set(ConsentEvent.objects.values_list("source", flat=True)) == {"import"}
    subscription = Subscription.objects.get()
    assert (subscription.profile, subscription.status) == (ana, "subscribed")


def test_a_row_with_an_external_id_updates_that_profile(csv_file, db):
    Profile.objects.create(
        external_id="c-1", first_name="Ana", email="ana@example.com", email_opt_out=True
    )
    path = csv_file(
        "external_id,first_name,email,email_opt_out,no_longer_contact\n"
        "c-1,Anne,,false,yes\n"
    )

    output = run_import(path)

    assert "0 profiles created, 1 updated" in output
    profile = Profile.objects.get()
    assert profile.first_name == "Anne"
    assert profile.email == "ana@example.com"  # an empty cell keeps the address
    assert (profile.email_opt_out, profile.no_longer_contact) == (False, True)
    assert set(ConsentEvent.objects.values_list("action", "channel")) == {
        ("opt_in", "email"),
        ("opt_out", ""),
    }


def test_importing_the_same_file_twice_changes_nothing_the_second_time(
    csv_file, newsletter
):
    path = csv_file(HEADER + "c-1,Ana,Silva,ana@example.com,,en,yes,,,newsletter\n")
    run_import(path)
    events = ConsentEvent.objects.count()

    run_import(path)

    assert Profile.objects.count() == 1
    assert ConsentEvent.objects.count() == events


def test_a_bad_file_lists_every_bad_line_and_writes_nothing(csv_file, db):
    path = csv_file(
        "email,mobile_phone,language,email_opt_out,services\n"
        "good@example.com,,en,no,\n"
        "not-an-email,,en,no,\n"
        "ok@example.com,12,en,no,\n"
        "fine@example.com,,klingon,maybe,nope\n"
    )

    with pytest.raises(CommandError) as caught:
        run_import(path)

    message = str(caught.value)
    assert "nothing imported" in message
    assert "line 3, field email" in message
    assert "line 4, field mobile_phone" in message
    assert "line 5, field language" in message
    assert "line 5, field email_opt_out" in message
    assert "line 5, field services: no service named nope" in message
    assert str(path) in message
    assert not Profile.objects.exists()
    assert not ConsentEvent.objects.exists()


def test_skip_invalid_imports_the_good_rows_and_lists_the_rest(csv_file, db):
    path = csv_file(
        "email,no_longer_contact\n"
        "good@example.com,yes\n"
        "bad@,no\n"
        "also.good@example.com,\n"
    )

    output = run_import(path, "--skip-invalid")

    assert sorted(Profile.objects.values_list("email", flat=True)) == [
        "also.good@example.com",
        "good@example.com",
    ]
    assert "Skipped 1 bad row(s)" in output
    assert "line 3, field email" in output
    assert ConsentEvent.objects.count() == 1


def test_json_output_reports_counts_and_skipped_rows(csv_file, db):
    path = csv_file("email\nfirst@example.com\nbroken\n")

    data = json.loads(run_import(path, "--skip-invalid", "--json"))

    assert data["created"] == 1
    assert data["skipped"] == 1
    assert data["errors"][0]["line"] == 3
    assert data["errors"][0]["field"] == "email"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("first_name,last_name\nAna,Silva\n", "needs an address column"),
        ("emial,first_name\nx@example.com,Ana\n", "unknown column"),
        ("email,email\na@example.com,b@example.com\n", "column repeated"),
        ("email,first_name\na@example.com\n", "1 cells where the header has 2"),
        ("email,first_name\na@example.com,Ana\na@example.com,Bea\n", None),
        ("first_name,email\nAna,\n", "a new profile needs an address"),
        ("email,first_name\nx@example.com," + "A" * 200 + "\n", "at most 150"),
        ("external_id,email\nk,a@example.com\nk,b@example.com\n", "already used"),
        ("email,first_name\na@example.com,An\x00a\n", "first_name: contains a NUL"),
    ],
)
def test_malformed_files_are_refused_with_a_reason(csv_file, content, expected, db):
    path = csv_file(content)

    if expected is None:
        run_import(path)  # two profiles may share an address
        assert Profile.objects.count() == 2
        return
    with pytest.raises(CommandError) as caught:
        run_import(path)
    assert expected in str(caught.value)
    assert not Profile.objects.exists()


def test_a_file_that_is_not_utf8_names_the_line(csv_file, db):
    path = csv_file("email,first_name\nana@example.com,Jo\xe3o\n", encoding="latin-1")

    with pytest.raises(CommandError) as caught:
        run_import(path)

    assert "line 2" in str(caught.value)
    assert "not UTF-8" in str(caught.value)
    assert not Profile.objects.exists()


def test_a_missing_file_is_a_clear_error(tmp_path, db):
    with pytest.raises(CommandError, match="no such file"):
        run_import(tmp_path / "nope.csv")


def test_import_writes_in_bulk_not_one_query_per_row(csv_file, newsletter):
    def queries_for(rows: int, prefix: str) -> int:
        lines = "".join(
            f"{prefix}{n},P{n},L,{prefix}{n}@example.com,,en,no,yes,no,newsletter\n"
            for n in range(rows)
        )
        with CaptureQueriesContext(connection) as queries:
            run_import(csv_file(HEADER + lines, f"{prefix}.csv"))
        return len(queries)

    small, large = queries_for(10, "a"), queries_for(300, "b")

    # SQLite caps the parameters of one statement, so large batches split;
    # a query per row would cost 300 or more.
    assert small <= 12
    assert large <= 30
    assert Profile.objects.count() == 310
    assert ConsentEvent.objects.count() == 620
