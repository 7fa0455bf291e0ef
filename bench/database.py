"""The bench's own PostgreSQL database, named after DATABASE_URL's.

The bench writes a million rows and drops them afterwards, so it never runs
against the database DATABASE_URL names: it creates `<name>_bench` beside it
on the same server.
"""

import os
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

POSTGRES_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis"}


class BenchRefused(Exception):
    """The bench cannot run here; the message says why and what to do."""


@dataclass(frozen=True)
class BenchDatabase:
    source_url: str
    url: str
    name: str

    def admin_connection(self) -> psycopg.Connection:
        """A connection to the server, to create or drop our database.

        Through the database DATABASE_URL names, or the server's `postgres`
        database when that one does not exist (yet): only the server is
        needed.
        """
        source = _conninfo(self.source_url)
        try:
            return psycopg.connect(source, autocommit=True)
        except psycopg.OperationalError as exc:
            first = exc
        maintenance = _conninfo(self.source_url, database="postgres")
        try:
            return psycopg.connect(maintenance, autocommit=True)
        except psycopg.OperationalError:
            reason = str(first).strip().splitlines()[0] if str(first) else "refused"
            raise BenchRefused(
                f"cannot connect to the PostgreSQL server of DATABASE_URL: {reason}"
            ) from None

    def create(self) -> None:
        """Create the bench database, dropping a leftover of an earlier run."""
        with self.admin_connection() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.name)
                )
            )
            conn.execute(
                sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name))
            )

    def drop(self) -> None:
        with self.admin_connection() as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(self.name)
                )
            )


def bench_database(environ: dict | None = None) -> BenchDatabase:
    """Derive the bench database from DATABASE_URL, or refuse clearly."""
    environ = os.environ if environ is None else environ
    source = (environ.get("DATABASE_URL") or "").strip()
    if not source:
        raise BenchRefused(
            "DATABASE_URL is not set. The bench needs a PostgreSQL server, e.g.\n"
            "  DATABASE_URL=postgres://root@127.0.0.1:5432/consent make bench\n"
            "It creates and drops its own database (<name>_bench) beside it."
        )
    parts = urlsplit(source)
    if parts.scheme.lower() not in POSTGRES_SCHEMES:
        raise BenchRefused(
            f"DATABASE_URL uses {parts.scheme or 'no scheme'!r}; the bench measures "
            "PostgreSQL only (postgres://user@host:port/name)."
        )
    base = parts.path.lstrip("/") or "postgres"
    name = f"{base}_bench"
    url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))
    return BenchDatabase(source_url=source, url=url, name=name)


def _conninfo(url: str, *, database: str | None = None) -> str:
    # psycopg accepts postgresql:// URLs; dj-database-url's other aliases
    # are rewritten to it.
    parts = urlsplit(url)
    path = parts.path if database is None else f"/{database}"
    return urlunsplit(("postgresql", parts.netloc, path, parts.query, ""))
