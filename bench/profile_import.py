"""Rows per second of `import_profiles`, beside a bare PostgreSQL COPY.

The file is what a CRM export looks like: new profiles with an external id,
addresses written the way people type them (mixed case, spaces, national
phone formats), a few opt-outs and subscriptions to both services. The
baseline copies the very same file into a scratch table of text columns:
reading and writing the bytes with no validation at all.
"""

import csv
import tempfile
import time
from pathlib import Path

from django.db import connection

from bench.report import Measure
from consent.imports import import_profiles

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


def write_file(path: Path, rows: int) -> None:
    """A deterministic CSV export of `rows` new profiles."""
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
                    f"imp-{n:08d}",
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


def measure(rows: int = ROWS) -> tuple[Measure, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        path = Path(folder) / "profiles.csv"
        write_file(path, rows)
        baseline = copy_seconds(path)

        began = time.perf_counter()
        result = import_profiles(path)
        seconds = time.perf_counter() - began

    rate = rows / seconds
    baseline_rate = rows / baseline
    details = {"seconds": round(seconds, 2), "copy_seconds": round(baseline, 3)}
    details.update(result.as_dict())
    details.pop("errors", None)
    return (
        Measure(
            name=f"import_profiles, {rows:,} rows",
            value=rate,
            unit="rows/s",
            baseline_name="COPY of the file",
            baseline=baseline_rate,
            ratio=rate / baseline_rate,
            target=f"> {TARGET_ROWS_PER_SECOND:,} rows/s",
            ok=rate > TARGET_ROWS_PER_SECOND,
            note=(
                f"{seconds:.1f} s for {result.created:,} profiles, "
                f"{result.consent_events:,} ledger rows, "
                f"{result.subscriptions:,} subscriptions"
            ),
        ),
        details,
    )
