"""The profile import checks and writes a large file chunk by chunk.

Chunks are made tiny here so a few rows cross several of them, and worker
processes are forced on for a handful of rows: the result must be the one
the whole-file contract promises, whatever the chunking.
"""

import pytest
from django.core.management import CommandError, call_command

from consent import imports
from consent.models import ConsentEvent, Profile, Service, Subscription

HEADER = "external_id,first_name,email,mobile_phone,email_opt_out,services\n"


@pytest.fixture
def tiny_chunks(monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)


@pytest.fixture
def worker_processes(monkeypatch, tiny_chunks):
    monkeypatch.setattr(imports, "PARALLEL_MIN_ROWS", 1)
    monkeypatch.setattr(imports.os, "cpu_count", lambda: 2)


@pytest.fixture
def newsletter(db):
    return Service.objects.create(name="newsletter", label="Newsletter")


def write_csv(tmp_path, text: str):
    path = tmp_path / "profiles.csv"
    path.write_text(text, encoding="utf-8")
    return path


def run_import(path, *args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("import_profiles", str(path), *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def seven_rows() -> str:
    return HEADER + "".join(
        f"k-{n},Person{n},Person.{n}@Example.com,,{'yes' if n % 2 else 'no'},"
        f"{'newsletter' if n % 3 == 0 else ''}\n"
        for n in range(7)
    )


@pytest.mark.parametrize("mode", ["tiny_chunks", "worker_processes"])
def test_a_file_spread_over_chunks_imports_every_row_once(
    request, mode, tmp_path, newsletter
):
    request.getfixturevalue(mode)

    output = run_import(write_csv(tmp_path, seven_rows()))

    assert "7 profiles created" in output
    assert sorted(Profile.objects.values_list("external_id", "email")) == [
        (f"k-{n}", f"person.{n}@example.com") for n in range(7)
    ]
    assert sorted(
        ConsentEvent.objects.filter(action="opt_out").values_list(
            "profile__external_id", flat=True
        )
    ) == ["k-1", "k-3", "k-5"]
    assert sorted(
        Subscription.objects.values_list("profile__external_id", flat=True)
    ) == ["k-0", "k-3", "k-6"]
    assert ConsentEvent.objects.filter(action="subscribe").count() == 3


@pytest.mark.parametrize("mode", ["tiny_chunks", "worker_processes"])
def test_a_bad_row_in_the_last_chunk_leaves_nothing_of_the_earlier_ones(
    request, mode, tmp_path, newsletter
):
    request.getfixturevalue(mode)
    text = seven_rows() + "k-7,Late,not-an-address,,no,\n"

    with pytest.raises(CommandError) as refused:
        run_import(write_csv(tmp_path, text))

    assert "line 9, field email" in str(refused.value)
    assert not Profile.objects.exists()
    assert not Subscription.objects.exists()
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize("mode", ["tiny_chunks", "worker_processes"])
def test_bad_lines_in_several_chunks_are_all_listed_in_file_order(
    request, mode, tmp_path, db
):
    request.getfixturevalue(mode)
    text = (
        HEADER
        + "a-1,A,broken,,no,\n"
        + "a-2,B,b@example.com,,no,\n"
        + "a-3,C,c@example.com,12,no,\n"
        + "a-4,D,d@example.com,,no,\n"
        + "a-2,E,e@example.com,,maybe,\n"
    )

    with pytest.raises(CommandError) as refused:
        run_import(write_csv(tmp_path, text))

    message = str(refused.value)
    places = [
        "line 2, field email",
        "line 4, field mobile_phone",
        "line 6, field email_opt_out",
        "line 6, field external_id: already used on line 3",
    ]
    positions = [message.index(place) for place in places]
    assert positions == sorted(positions)
    assert not Profile.objects.exists()


@pytest.mark.parametrize("mode", ["tiny_chunks", "worker_processes"])
def test_skip_invalid_keeps_the_good_rows_of_every_chunk(request, mode, tmp_path, db):
    request.getfixturevalue(mode)
    text = (
        HEADER
        + "s-1,A,a@example.com,,yes,\n"
        + "s-2,B,broken@,,no,\n"
        + "s-3,C,c@example.com,,no,\n"
        + "s-4,D,d@example.com,,no,\n"
        + "s-5,E,e@,,no,\n"
    )

    output = run_import(write_csv(tmp_path, text), "--skip-invalid")

    assert sorted(Profile.objects.values_list("external_id", flat=True)) == [
        "s-1",
        "s-3",
        "s-4",
    ]
    assert "Skipped 2 bad row(s)" in output
    assert ConsentEvent.objects.get().profile.external_id == "s-1"


def test_an_unknown_external_id_without_an_address_is_refused(tmp_path, db):
    Profile.objects.create(external_id="known", email="known@example.com")
    text = "external_id,first_name,email\nknown,Kim,\nunknown,Uma,\n"

    with pytest.raises(CommandError) as refused:
        run_import(write_csv(tmp_path, text))

    assert "line 3, field email/mobile_phone: a new profile needs an address" in str(
        refused.value
    )
    assert Profile.objects.get().first_name == ""


def test_a_created_profile_gets_every_default_a_form_would_give(tmp_path, db):
    text = "email,first_name\na@example.com,Ana\nb@example.com,Bea\n"

    run_import(write_csv(tmp_path, text))

    first, second = Profile.objects.order_by("pk")
    assert first.public_id != second.public_id
    assert (first.language, first.external_id, first.postal_address) == ("en", None, "")
    assert first.created_at is not None and first.updated_at is not None
    assert not (first.no_longer_contact or first.sms_opt_out or first.push_opt_out)
    # The next profile made through the ORM gets the next free id.
    assert Profile.objects.create(email="c@example.com").pk > second.pk


def test_a_row_that_changes_nothing_leaves_the_profile_untouched(tmp_path, db):
    same = Profile.objects.create(
        external_id="same", first_name="Sam", email="sam@example.com"
    )
    moved = Profile.objects.create(
        external_id="moved", first_name="Mo", email="mo@example.com", sms_opt_out=True
    )
    text = (
        "external_id,first_name,email,sms_opt_out\n"
        "same,Sam,sam@example.com,no\n"
        "moved,Mo,mo@new.example.com,no\n"
    )

    output = run_import(write_csv(tmp_path, text))

    assert "0 profiles created, 2 updated" in output
    assert Profile.objects.get(pk=same.pk).updated_at == same.updated_at
    moved.refresh_from_db()
    assert (moved.email, moved.sms_opt_out) == ("mo@new.example.com", False)
    assert list(ConsentEvent.objects.values_list("profile", "action", "channel")) == [
        (moved.pk, "opt_in", "sms")
    ]


@pytest.mark.parametrize("mode", ["tiny_chunks", "worker_processes"])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_line_endings_and_quoted_cells_read_the_same_in_chunks(
    request, mode, ending, tmp_path, db
):
    request.getfixturevalue(mode)
    lines = [
        "external_id,first_name,last_name,email",
        "q-1,Ana,Silva,ana@example.com",
        'q-2,"Bea, Jr.",Souza,bea@example.com',
        "q-3,Cid,Costa,cid@example.com",
        'q-4,Dora,"O\'Neil ""Dee""",dora@example.com',
        "q-5,Eva,Lima,eva@example.com",
    ]
    plain = [line for line in lines if '"' not in line]

    run_import(write_csv(tmp_path, ending.join(plain) + ending))
    run_import(write_csv(tmp_path, ending.join(lines) + ending))

    assert sorted(Profile.objects.values_list("external_id", "first_name")) == [
        ("q-1", "Ana"),
        ("q-2", "Bea, Jr."),
        ("q-3", "Cid"),
        ("q-4", "Dora"),
        ("q-5", "Eva"),
    ]
    assert Profile.objects.get(external_id="q-4").last_name == 'O\'Neil "Dee"'


@pytest.mark.parametrize("mode", ["tiny_chunks", "worker_processes"])
def test_a_line_the_csv_reader_refuses_ends_the_file_there(request, mode, tmp_path, db):
    request.getfixturevalue(mode)
    text = "email\n" + "".join(
        # Longer than the csv module's field size limit.
        "x" * 200_000 + "@example.com\n" if n == 3 else f"p{n}@example.com\n"
        for n in range(7)
    )

    output = run_import(write_csv(tmp_path, text), "--skip-invalid")

    assert "line 5, field -: not readable as CSV" in output
    assert sorted(Profile.objects.values_list("email", flat=True)) == [
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
    ]
