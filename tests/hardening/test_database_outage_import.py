"""The database goes away in the middle of an import: a clear error, no rows.

The import writes in one transaction; the connection is terminated inside
it, after profiles were inserted. The command stops with a CommandError that
says nothing was imported, the database holds none of the file, and the
same file imports cleanly once the database is back.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from consent.models import ConsentEvent, Profile, Service, Subscription
from tests.hardening.conftest import database_refusing_connections, postgres_only

pytestmark = postgres_only.marks

CSV = (
    "external_id,first_name,email,email_opt_out,services\n"
    "x-1,Ana,ana.import@example.com,yes,news\n"
    "x-2,Bea,bea.import@example.com,no,news\n"
    "x-3,Cid,cid.import@example.com,no,\n"
)


@pytest.fixture
def news(transactional_db):
    return Service.objects.create(name="news", label="News")


@pytest.fixture
def profiles_csv(tmp_path):
    path = tmp_path / "profiles.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def run_import(path) -> str:
    out, err = StringIO(), StringIO()
    call_command("import_profiles", str(path), stdout=out, stderr=err)
    return out.getvalue()


def assert_nothing_imported() -> None:
    assert not Profile.objects.exists()
    assert not Subscription.objects.exists()
    assert not ConsentEvent.objects.exists()


@pytest.mark.parametrize(
    "table",
    ["consent_consentevent", "consent_subscription"],
    ids=["at the ledger", "at the subscriptions"],
)
def test_connection_lost_mid_import_is_a_clear_error_and_writes_nothing(
    news, profiles_csv, kill_connection_on_insert, table
):
    kill_connection_on_insert(table)

    with pytest.raises(CommandError) as refused:
        run_import(profiles_csv)

    assert str(refused.value) == (
        f"{profiles_csv}: the database connection was lost; nothing was imported."
    )
    assert_nothing_imported()


def test_the_same_file_imports_cleanly_once_the_database_is_back(
    news, profiles_csv, kill_connection_on_insert
):
    kill_connection_on_insert("consent_consentevent")
    with pytest.raises(CommandError):
        run_import(profiles_csv)

    output = run_import(profiles_csv)

    assert "3 profiles created" in output
    assert Profile.objects.count() == 3
    assert Subscription.objects.filter(status="subscribed").count() == 2
    assert sorted(ConsentEvent.objects.values_list("action", flat=True)) == [
        "opt_out",
        "subscribe",
        "subscribe",
    ]


def test_an_import_started_while_the_database_is_away_is_a_clear_error(
    news, profiles_csv
):
    with database_refusing_connections():
        with pytest.raises(CommandError) as refused:
            run_import(profiles_csv)

    assert "the database connection was lost; nothing was imported" in str(
        refused.value
    )
    assert_nothing_imported()
    run_import(profiles_csv)
    assert Profile.objects.count() == 3
