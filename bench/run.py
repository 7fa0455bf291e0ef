"""Orchestrate one bench run: database, seeding, measures, report."""

import os
import secrets
import sys
import time
from pathlib import Path

from bench.database import BenchRefused, bench_database

RESULTS = Path(__file__).resolve().parent.parent / "bench-results" / "latest.json"
DEFAULT_N = 1_000_000


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def _read_n() -> int:
    raw = os.environ.get("N", "").replace("_", "").replace(",", "").strip()
    if not raw:
        return DEFAULT_N
    try:
        n = int(raw)
    except ValueError:
        raise BenchRefused(
            f"N must be a whole number of profiles, got {raw!r}."
        ) from None
    if n < 1000:
        raise BenchRefused("N must be at least 1000 profiles.")
    return n


def _configure(url: str) -> None:
    """Settings for the bench process and every server it starts."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "campaign.settings"
    os.environ["DJANGO_DEBUG"] = "false"
    # A key of its own for each run: links signed here are only ever
    # verified by the servers this run starts.
    os.environ["DJANGO_SECRET_KEY"] = "bench-" + secrets.token_urlsafe(40)
    os.environ["DJANGO_HTTPS"] = "false"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.pop("PYTEST_VERSION", None)
    # Sending in the bench runs in-process, whatever the shell has set.
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("REDIS_URL", None)


def main() -> int:
    try:
        n = _read_n()
        database = bench_database()
    except BenchRefused as refused:
        _say(f"bench: {refused}")
        return 2

    _say(f"bench: creating database {database.name} for N={n:,} profiles")
    try:
        database.create()
    except BenchRefused as refused:
        _say(f"bench: {refused}")
        return 2
    _configure(database.url)
    try:
        return _run(n)
    finally:
        from django.db import connections

        connections.close_all()
        if os.environ.get("BENCH_KEEP_DB", "").lower() in ("1", "true", "yes"):
            _say(f"bench: keeping database {database.name} (BENCH_KEEP_DB)")
        else:
            database.drop()
            _say(f"bench: dropped database {database.name}")


def _analysis_measures(n: int) -> list:
    """The delivery area's analysis timings (bench.analysis), without its
    memory figure: this long-lived process's peak says nothing about
    analysis; bench.memory measures a process of its own instead."""
    from bench.report import Measure

    try:
        from bench import analysis
    except ImportError:
        missing = Measure(name="delivery analysis", value=None, unit="s")
        missing.note = "bench.analysis (the delivery area's timing) is not there"
        return [missing]
    return [measure for measure in analysis.measure(n, _say) if measure.unit != "MiB"]


def _run(n: int) -> int:
    import django
    from django.core.management import call_command

    django.setup()

    from bench import admin_pages, disk, machine, memory, oneclick, profile_import, seed
    from bench.report import Measure, Report
    from delivery.actions import create_delivery

    began = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    # Production serves hashed static files; the admin pages need them.
    call_command("collectstatic", verbosity=0, interactive=False)

    report = Report(n=n, machine=machine.describe())
    _say(f"bench: seeding {n:,} profiles set-based")
    report.seeding = seed.seed(
        n, lambda label, seconds: _say(f"  {label}: {seconds:.1f} s")
    )

    _say("bench: admin pages")
    for measure in admin_pages.measure(n):
        report.add(measure)

    _say("bench: delivery analysis beside the bare SQL (bench.analysis)")
    for measure in _analysis_measures(n):
        report.add(measure)

    _say("bench: peak memory of a process analysing every profile")
    delivery = create_delivery(label="bench: memory", channel="email", body="Hi")
    measure, details = memory.measure(delivery.pk)
    report.add(measure)
    report.details["memory"] = details

    # After the analysis above, so the recipient table holds one row per
    # profile, as it does once a delivery to everyone was analysed.
    _say("bench: disk")
    sizes = disk.table_sizes()
    report.details["disk"] = {
        "tables": sizes,
        "database_bytes": disk.database_bytes(),
        "mib_per_million_profiles": disk.per_million(sizes, n),
    }

    _say("bench: one-click unsubscribe under load (gunicorn + wrk)")
    try:
        measure, details = oneclick.measure(n)
    except oneclick.LoadToolMissing as missing:
        measure = Measure(
            name="one-click unsubscribe under load", value=None, unit="req/s"
        )
        measure.note = str(missing)
        details = {"skipped": str(missing)}
    report.add(measure)
    report.details["one_click"] = details

    # Last: it adds profiles to the table the other measures ran on.
    _say(f"bench: import_profiles of {profile_import.ROWS:,} rows")
    measure, details = profile_import.measure()
    report.add(measure)
    report.details["import"] = details

    report.details["total_seconds"] = round(time.perf_counter() - began, 1)
    report.write_json(RESULTS)
    sys.stdout.write(
        f"{report.table()}\n\n{disk.format_sizes(sizes, n)}\n\n"
        f"Results written to {RESULTS}\n"
        f"Total {report.details['total_seconds']} s\n"
    )
    return 0
