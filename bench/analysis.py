"""Delivery analysis at N profiles, beside the bare SQL doing the same.

The application path is delivery.actions.analyze_delivery, exactly as the
command and the admin button run it: lock the delivery, classify every
target profile into the recipient table (indexed, WAL-logged), count the
reasons, save the delivery. Beside it, the hand-written SQL of
delivery.analysis.baseline_statements, with no application code around
it, twice: keeping the same rows in the same table (what the database must
do for this result: the target is at most 1.5 times this), and keeping
them in an unindexed temporary table (the floor: the classification
alone). All run in the same process, on the same data, in turn, each after
a CHECKPOINT; the median of REPEAT runs is kept. Their counts must agree,
so the baselines also check the application's result.

Run on its own, on a database of its own beside DATABASE_URL's:

    DATABASE_URL=postgres://root@127.0.0.1:5432/delivery \\
        python -m bench.analysis 100000 1000000

`make bench` (bench.run) calls `measure()` on the database it seeded.
"""

import os
import resource
import statistics
import sys
import time
from collections.abc import Callable

REPEAT = 3
TARGET_RATIO = 1.5
TARGET_MIB = 200

Say = Callable[[str], None]


def _say(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def peak_rss_mib() -> float:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def seed(n: int, say: Say = _say) -> dict:
    """Seed N profiles, their quarantine rows and two services, set-based.

    The mix is bench.seed's (opt-outs, missing and shared addresses,
    quarantined and denylisted ones, subscriptions); the consent ledger,
    which analysis never reads, is left out to keep this quick.
    """
    from bench import seed as seeding

    timings = {}
    for label, step in [
        ("profiles", lambda: seeding.seed_profiles(n)),
        ("quarantine addresses", seeding.seed_quarantine),
        ("services and subscriptions", _services_and_subscriptions),
        ("vacuum analyze", seeding.vacuum_analyze),
    ]:
        began = time.perf_counter()
        step()
        timings[label] = round(time.perf_counter() - began, 2)
        say(f"  {label}: {timings[label]:.1f} s")
    return timings


def _services_and_subscriptions() -> None:
    from bench import seed as seeding

    seeding.seed_subscriptions(seeding.seed_services())


def _checkpoint() -> None:
    """Start each timed run with no dirty pages left by the previous one."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def _clear(delivery) -> None:
    """Remove a timed run's rows, untimed, so every run starts alike."""
    from django.db import connection

    from delivery.analysis import quoted_table
    from delivery.models import Recipient

    Recipient.objects.filter(delivery=delivery).delete()
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM {quoted_table(Recipient)}")


def _time_application(delivery) -> tuple[float, dict]:
    from delivery.actions import analyze_delivery

    _checkpoint()
    began = time.perf_counter()
    result = analyze_delivery(delivery=delivery)
    seconds = time.perf_counter() - began
    counts = {"": result.to_send, **result.excluded}
    return seconds, {key: value for key, value in counts.items() if value}


def _time_baseline(delivery, into: str) -> tuple[float, dict]:
    from django.db import connection, transaction
    from django.utils import timezone

    from delivery.analysis import baseline_statements

    _checkpoint()
    statements = baseline_statements(delivery, now=timezone.now(), into=into)
    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        counts = dict(cursor.fetchall())
    seconds = time.perf_counter() - began
    return seconds, {key: value for key, value in counts.items() if value}


# What each timed path is called in the results.
APPLICATION = "analysis"
SAME_TABLE = "bare SQL into the recipient table"
TEMPORARY = "bare SQL into a temporary table"


def measure_delivery(label: str, make_delivery: Callable, say: Say = _say) -> dict:
    """Time one kind of delivery: REPEAT runs of each path, in turn."""
    timings = {APPLICATION: [], SAME_TABLE: [], TEMPORARY: []}
    counts = {}
    for run in range(REPEAT):
        delivery = make_delivery()
        seconds, counts[APPLICATION] = _time_application(delivery)
        timings[APPLICATION].append(seconds)
        _clear(delivery)
        seconds, counts[SAME_TABLE] = _time_baseline(delivery, "recipients")
        timings[SAME_TABLE].append(seconds)
        _clear(delivery)
        seconds, counts[TEMPORARY] = _time_baseline(delivery, "temporary")
        timings[TEMPORARY].append(seconds)
        delivery.delete()
        say(
            f"  {label}, run {run + 1}: "
            + ", ".join(f"{path} {times[-1]:.2f} s" for path, times in timings.items())
        )
    if not counts[APPLICATION] == counts[SAME_TABLE] == counts[TEMPORARY]:
        raise RuntimeError(f"{label}: the paths disagree: {counts}")
    median = {path: statistics.median(times) for path, times in timings.items()}
    return {
        "delivery": label,
        "target": sum(counts[APPLICATION].values()),
        "to_send": counts[APPLICATION].get("", 0),
        "seconds": {path: round(value, 3) for path, value in median.items()},
        "ratio_to_same_table": round(median[APPLICATION] / median[SAME_TABLE], 2),
        "ratio_to_temporary": round(median[APPLICATION] / median[TEMPORARY], 2),
        "runs": {
            path: [round(value, 3) for value in times]
            for path, times in timings.items()
        },
    }


def _delivery_kinds() -> list[tuple[str, Callable]]:
    from consent.models import Service
    from delivery.actions import create_delivery

    newsletter = Service.objects.get(name="newsletter")
    return [
        (
            "email to every profile",
            lambda: create_delivery(label="bench: all", channel="email", body="Hi"),
        ),
        (
            "email to the newsletter's subscribers",
            lambda: create_delivery(
                label="bench: newsletter",
                channel="email",
                service=newsletter,
                body="Hi",
            ),
        ),
    ]


def measure(n: int, say: Say = _say) -> list:
    """Measure analysis on the seeded database; return bench.report
    Measures: per kind of delivery, the analysis beside the bare SQL keeping
    the same rows in the same table (the target) and beside the bare SQL
    keeping them in an unindexed temporary table (the floor); then the
    process's peak memory."""
    from bench.report import Measure

    results = [measure_delivery(label, make, say) for label, make in _delivery_kinds()]
    measures = []
    for r in results:
        name = f"analysis, {r['delivery']} ({r['target']:,} targeted)"
        measures.append(
            Measure(
                name=name,
                value=r["seconds"][APPLICATION],
                unit="s",
                baseline_name=SAME_TABLE,
                baseline=r["seconds"][SAME_TABLE],
                ratio=r["ratio_to_same_table"],
                target=f"at most {TARGET_RATIO}x the bare SQL",
                ok=r["ratio_to_same_table"] <= TARGET_RATIO,
            )
        )
        measures.append(
            Measure(
                name=f"{name}, against the floor",
                value=r["seconds"][APPLICATION],
                unit="s",
                baseline_name=TEMPORARY,
                baseline=r["seconds"][TEMPORARY],
                ratio=r["ratio_to_temporary"],
                note="the cost of keeping the result indexed and durable",
            )
        )
    peak = peak_rss_mib()
    measures.append(
        Measure(
            name="analysing process, peak memory",
            value=peak,
            unit="MiB",
            target=f"under {TARGET_MIB} MiB, not growing with N",
            ok=peak < TARGET_MIB,
        )
    )
    return measures


def seed_and_measure(n: int, say: Say = _say) -> dict:
    """Seed N profiles, then measure; a dict ready for JSON."""
    from dataclasses import asdict

    seeding = seed(n, say)
    measures = measure(n, say)
    return {
        "n": n,
        "seeding_seconds": seeding,
        "measures": [asdict(m) for m in measures],
    }


def main(argv: list[str]) -> int:
    import json

    from bench.database import BenchRefused, bench_database

    sizes = [int(arg.replace("_", "")) for arg in argv] or [100_000]
    try:
        database = bench_database()
    except BenchRefused as refused:
        _say(f"bench.analysis: {refused}")
        return 2
    os.environ.update(
        DATABASE_URL=database.url,
        DJANGO_SETTINGS_MODULE="campaign.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-analysis-only-signs-nothing-that-leaves-the-run",
        LOG_LEVEL="WARNING",
    )
    import django
    from django.core.management import call_command
    from django.db import connections

    django.setup()
    results = []
    for n in sizes:
        _say(f"bench.analysis: N={n:,} in database {database.name}")
        connections.close_all()
        database.create()
        call_command("migrate", verbosity=0, interactive=False)
        results.append(seed_and_measure(n))
        connections.close_all()
    database.drop()
    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
