"""`make bench` finds its PostgreSQL server, or says in one line why not."""

import pytest
from django.conf import settings as django_settings
from django.db import connection

from bench import run
from bench.database import bench_database


def test_an_unreachable_server_is_one_line_and_no_traceback(monkeypatch, capsys):
    # Nothing listens on port 9 of loopback.
    monkeypatch.setenv("DATABASE_URL", "postgres://root@127.0.0.1:9/consent")
    monkeypatch.setenv("N", "1000")

    assert run.main() == 2

    said = capsys.readouterr().err.strip().splitlines()
    assert said[-1].startswith(
        "bench: cannot connect to the PostgreSQL server of DATABASE_URL:"
    )
    assert "Traceback" not in "\n".join(said)


@pytest.mark.postgres
@pytest.mark.skipif(
    not django_settings.IS_POSTGRES, reason="needs a PostgreSQL server to reach"
)
def test_a_database_that_does_not_exist_yet_still_reaches_the_server(db):
    server = connection.settings_dict
    url = (
        f"postgres://{server['USER']}@{server['HOST']}:{server['PORT']}"
        "/no_such_database_here"
    )

    database = bench_database({"DATABASE_URL": url})

    assert database.name == "no_such_database_here_bench"
    with database.admin_connection() as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("postgres",)
