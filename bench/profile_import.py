"""Rows per second of `import_profiles`, beside the bare SQL writing the
same rows.

The file is what a CRM export looks like: new profiles with an external id,
addresses written the way people type them (mixed case, spaces, national
phone formats), a few opt-outs and subscriptions to both services.

The baseline is PostgreSQL alone doing the import's writes, with no
application code: the file is copied into a scratch table, then one
INSERT ... SELECT each fills the profiles, their opt-out ledger rows, their
subscriptions and the subscriptions' ledger rows, in one transaction, into
the same indexed tables. It checks nothing: addresses are only trimmed and
lower-cased or stripped to digits. Whatever the import adds on top of it is
the price of checking every cell and of doing the work from Python. The
time to merely copy the file into a table of text columns is reported too.
"""

import csv
import tempfile
import time
from pathlib import Path

from django.db import connection, transaction

from bench.report import Measure
from consent.imports import TRUE_WORDS, import_profiles
from consent.models import ConsentEvent, Profile, Service, Subscription

ROWS = 100_000
TARGET_ROWS_PER_SECOND = 20_000
COLUMNS = [
    "external_id",
    "first_name",
    "last_name",
    "email",
    "mobile_phone",
    "language",
    "no_longer_contact",
    "email_opt_out",
    "sms_opt_out",
    "services",
]


def write_file(path: Path, rows: int, id_prefix: str = "imp") -> None:
    """A deterministic CSV export of `rows` new profiles, their external
    ids starting with `id_prefix`."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(rows):
            if n % 2:
                phone = f"+33 6 {n // 1000000 % 100:02d} {n // 10000 % 100:02d} "
                phone += f"{n // 100 % 100:02d} {n % 100:02d}"
            elif n % 5 == 0:
                phone = f"+55 (11) 9{n % 10000:04d}-{n // 10000 % 10000:04d}"
            else:
                phone = ""
            email = f"import.{n}@example.com"
            if n % 7 == 0:
                email = f" Import.{n}@Example.COM "
            services = ""
            if n % 10 < 5:
                services = "newsletter"
            elif n % 10 == 5:
                services = "newsletter;alerts"
            writer.writerow(
                [
                    f"{id_prefix}-{n:08d}",
                    "Maria" if n % 3 else "José",
                    f"Import{n % 997}",
                    email,
                    phone,
                    "pt-BR" if n % 4 == 0 else "en",
                    "yes" if n % 33 == 0 else "",
                    "true" if n % 25 == 0 else "false",
                    "1" if n % 40 == 0 else "0",
                    services,
                ]
            )


def copy_seconds(path: Path) -> float:
    """Seconds to COPY the file into a temporary table of text columns."""
    columns = ", ".join(f"{name} text" for name in COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE bench_import_copy ({columns})")
        try:
            began = time.perf_counter()
            with (
                cursor.copy(
                    "COPY bench_import_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
                ) as copy,
                path.open("rb") as handle,
            ):
                while block := handle.read(1 << 20):
                    copy.write(block)
            return time.perf_counter() - began
        finally:
            cursor.execute("DROP TABLE bench_import_copy")


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _is_true(column: str) -> str:
    words = ", ".join(f"'{word}'" for word in sorted(TRUE_WORDS))
    return f"coalesce(lower(trim({column})) IN ({words}), false)"


def bare_sql_statements() -> list[str]:
    """The import's writes as plain SQL over `bench_import_rows`, a table
    holding the file's cells as text and an `id` from the profile sequence.

    Every row becomes a profile; each true flag an opt-out ledger row; each
    service named a subscription and its ledger row: what import_profiles
    writes for a file of new profiles.
    """
    profile, event = _table(Profile), _table(ConsentEvent)
    subscription, service = _table(Subscription), _table(Service)
    flags = ", ".join(
        f"(r.{column}, '{channel}')"
        for column, channel in (
            ("no_longer_contact", ""),
            ("email_opt_out", "email"),
            ("sms_opt_out", "sms"),
        )
    )
    services = (
        "FROM bench_import_rows AS r "
        "CROSS JOIN LATERAL unnest(string_to_array(r.services, ';')) AS n(name) "
        f"JOIN {service} AS s ON s.name = trim(n.name)"
    )
    event_columns = (
        "created_at, action, channel, source, note, user_agent, wording, "
        "ip_address, operator_id, profile_id, service_id"
    )
    source = ConsentEvent.Source.IMPORT
    return [
        f"INSERT INTO {profile} (id, public_id, external_id, first_name, "
        "last_name, language, email, mobile_phone, postal_address, "
        "no_longer_contact, email_opt_out, sms_opt_out, phone_opt_out, "
        "direct_mail_opt_out, push_opt_out, created_at, updated_at) "
        "SELECT id, gen_random_uuid(), external_id, coalesce(first_name, ''), "
        "coalesce(last_name, ''), "
        "CASE WHEN lower(language) LIKE 'pt%' THEN 'pt-br' ELSE 'en' END, "
        "lower(trim(coalesce(email, ''))), "
        "regexp_replace(coalesce(mobile_phone, ''), '[^0-9+]', '', 'g'), '', "
        f"{_is_true('no_longer_contact')}, {_is_true('email_opt_out')}, "
        f"{_is_true('sms_opt_out')}, false, false, false, now(), now() "
        "FROM bench_import_rows",
        f"INSERT INTO {event} ({event_columns}) "
        f"SELECT now(), '{ConsentEvent.Action.OPT_OUT}', f.channel, '{source}', "
        "'', '', '', NULL, NULL, r.id, NULL "
        f"FROM bench_import_rows AS r CROSS JOIN LATERAL (VALUES {flags}) "
        f"AS f(value, channel) WHERE {_is_true('f.value')}",
        f"INSERT INTO {subscription} (status, created_at, updated_at, "
        "subscribed_at, expires_at, profile_id, service_id) "
        f"SELECT '{Subscription.Status.SUBSCRIBED}', now(), now(), now(), "
        "now() + s.validity_days * interval '1 day', r.id, s.id "
        f"{services}",
        f"INSERT INTO {event} ({event_columns}) "
        f"SELECT now(), '{ConsentEvent.Action.SUBSCRIBE}', s.channel, "
        f"'{source}', '', '', '', NULL, NULL, r.id, s.id {services}",
    ]


def bare_sql_seconds(path: Path) -> float:
    """Seconds for PostgreSQL alone to write what importing the file writes
    (see bare_sql_statements), committed."""
    sequence = "SELECT pg_get_serial_sequence(%s, 'id')"
    columns = ", ".join(f"{name} text" for name in COLUMNS)
    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sequence, [Profile._meta.db_table])
        (name,) = cursor.fetchone()
        cursor.execute(
            f"CREATE TEMPORARY TABLE bench_import_rows ({columns}, "
            f"id bigint DEFAULT nextval('{name}')) ON COMMIT DROP"
        )
        with (
            cursor.copy(
                f"COPY bench_import_rows ({', '.join(COLUMNS)}) "
                "FROM STDIN WITH (FORMAT csv, HEADER true)"
            ) as copy,
            path.open("rb") as handle,
        ):
            while block := handle.read(1 << 20):
                copy.write(block)
        for statement in bare_sql_statements():
            cursor.execute(statement)
    return time.perf_counter() - began


def measure(rows: int = ROWS) -> tuple[Measure, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        folder = Path(folder)
        path, first_sql, second_sql = (
            folder / "import.csv",
            folder / "sql-1.csv",
            folder / "sql-2.csv",
        )
        write_file(path, rows)
        write_file(first_sql, rows, id_prefix="sql1")
        write_file(second_sql, rows, id_prefix="sql2")
        copy = copy_seconds(path)

        # The bare SQL runs before and after the import, each time on new
        # profiles, and the faster run counts: the import gets no advantage
        # from the order or from a cold cache on one side only.
        bare = [bare_sql_seconds(first_sql)]
        began = time.perf_counter()
        result = import_profiles(path)
        seconds = time.perf_counter() - began
        bare.append(bare_sql_seconds(second_sql))

    baseline = min(bare)
    rate, baseline_rate = rows / seconds, rows / baseline
    details = {
        "seconds": round(seconds, 2),
        "bare_sql_seconds": [round(value, 2) for value in bare],
        "copy_seconds": round(copy, 3),
    }
    details.update(result.as_dict())
    details.pop("errors", None)
    return (
        Measure(
            name=f"import_profiles, {rows:,} rows",
            value=rate,
            unit="rows/s",
            baseline_name="bare SQL, same rows and tables",
            baseline=baseline_rate,
            ratio=rate / baseline_rate,
            target=f"> {TARGET_ROWS_PER_SECOND:,} rows/s",
            ok=rate > TARGET_ROWS_PER_SECOND,
            note=(
                f"{seconds:.1f} s for {result.created:,} profiles, "
                f"{result.consent_events:,} ledger rows, "
                f"{result.subscriptions:,} subscriptions; bare SQL "
                f"{baseline:.1f} s; copying the file alone {copy:.2f} s"
            ),
        ),
        details,
    )
