"""Fixtures that break things on purpose: real failures, on a real database.

Faults are injected in PostgreSQL itself (a trigger that terminates the
connection mid-transaction, a database that refuses connections), never by
mocking Django or the driver. They only touch the test database of this
run, never the shared server.
"""

import contextlib
import random
import threading
from collections.abc import Iterator

import psycopg
import pytest
from django.db import connection, connections

IS_POSTGRES = connection.vendor == "postgresql"


class needs_postgres:  # noqa: N801 - used like pytest's own marks
    """Mark a test `postgres` and skip it on SQLite, saying why.

    The CI PostgreSQL run always runs it. Use as a decorator, or put
    `.marks` in a module's `pytestmark`.
    """

    def __init__(self, why: str):
        self.marks = [
            pytest.mark.postgres,
            pytest.mark.skipif(not IS_POSTGRES, reason=f"needs PostgreSQL: {why}"),
        ]

    def __call__(self, test):
        for mark in self.marks:
            test = mark(test)
        return test


# Faults injected in the database server: SQLite has no server.
postgres_only = needs_postgres(
    "the fault is injected in the server (a terminated backend, a database "
    "refusing connections), which SQLite does not have"
)


def admin_connection(dbname: str | None = None) -> psycopg.Connection:
    """A connection outside Django, to the test database or to `dbname`."""
    params = connection.settings_dict
    return psycopg.connect(
        dbname=dbname or params["NAME"],
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=params["USER"] or None,
        password=params["PASSWORD"] or None,
        autocommit=True,
    )


def backend_pid() -> int:
    """The server process behind Django's connection in this thread."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.fixture
def pg_admin(transactional_db) -> Iterator[psycopg.Connection]:
    with admin_connection() as conn:
        yield conn


class ConnectionKiller:
    """Faults armed on tables: a trigger that terminates the inserting backend.

    The trigger runs inside the inserting transaction, after its earlier
    statements, and kills the very backend that runs the INSERT. By default
    only Django's connection of the moment is killed, so the reconnection
    afterwards works; with any_backend, whichever connection inserts (a
    command in a subprocess, say) until the fault is disarmed.
    """

    def __init__(self, admin: psycopg.Connection):
        self.admin = admin
        self.armed: set[str] = set()

    def __call__(self, table: str, *, any_backend: bool = False) -> None:
        pid = 0 if any_backend else backend_pid()
        name = f"hardening_kill_{table}"
        self.admin.execute(
            f"""
            CREATE OR REPLACE FUNCTION {name}() RETURNS trigger AS $$
            BEGIN
                IF {int(pid)} IN (0, pg_backend_pid()) THEN
                    PERFORM pg_terminate_backend(pg_backend_pid());
                    PERFORM pg_sleep(5);
                END IF;
                RETURN NULL;
            END $$ LANGUAGE plpgsql
            """
        )
        self.admin.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        self.admin.execute(
            f"CREATE TRIGGER {name} BEFORE INSERT ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
        self.armed.add(table)

    def disarm(self, table: str) -> None:
        name = f"hardening_kill_{table}"
        self.admin.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        self.admin.execute(f"DROP FUNCTION IF EXISTS {name}()")
        self.armed.discard(table)


@pytest.fixture
def kill_connection_on_insert(pg_admin) -> Iterator[ConnectionKiller]:
    """Arm faults by calling it with a table; all disarmed at the end."""
    killer = ConnectionKiller(pg_admin)
    yield killer
    for table in list(killer.armed):
        killer.disarm(table)


@contextlib.contextmanager
def database_refusing_connections() -> Iterator[None]:
    """The test database refuses new connections and drops Django's.

    Like a database server restarting: every query fails until the block
    ends, then connections are accepted again. Run from the maintenance
    database, since a database cannot close its own doors.
    """
    name = connection.settings_dict["NAME"]
    pid = backend_pid()
    with admin_connection("postgres") as maintenance:
        maintenance.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        maintenance.execute("SELECT pg_terminate_backend(%s)", [pid])
        try:
            yield
        finally:
            maintenance.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def run_clients(
    clients: list[Iterator[object]], *, seed: int = 0, timeout: float = 300
) -> list[BaseException]:
    """Run clients at once and return the exceptions they raised.

    A client is a generator that does one operation per step. On
    PostgreSQL each runs in its own thread with its own connection, all
    released together behind a barrier so their transactions overlap. On
    SQLite, which takes one writer at a time and fails or stalls the
    others, the steps of all clients are interleaved in random order in one
    thread: the same operations and the same checks, without the overlap.
    """
    errors: list[BaseException] = []
    if not IS_POSTGRES:
        order = random.Random(seed)
        running = list(clients)
        while running:
            client = order.choice(running)
            try:
                next(client)
            except StopIteration:
                running.remove(client)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                errors.append(exc)
                running.remove(client)
        return errors

    barrier = threading.Barrier(len(clients))

    def run(client: Iterator[object]) -> None:
        try:
            barrier.wait()
            for _step in client:
                pass
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        errors.append(TimeoutError("a client thread did not finish"))
    return errors
