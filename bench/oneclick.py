"""The RFC 8058 one-click unsubscribe under concurrent load.

The production server (gunicorn, 4 workers, DEBUG off, on 127.0.0.1 only)
serves the real endpoint; the same server with bench.server_settings serves
the baseline view (the same two writes in raw SQL). wrk posts
`List-Unsubscribe=One-Click` to a different profile's link on each request,
for a fixed time, against each in turn. Afterwards the ledger must hold
exactly one opt-out per profile that was hit, and each hit profile must be
opted out.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from django.db import connection

from bench.report import Measure
from consent.links import unsubscribe_url
from consent.models import ConsentEvent, Profile

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
LUA = HERE / "oneclick.lua"
WORKERS = 4
THREADS = 2
CONNECTIONS = 32
SECONDS = 10
WARM_UP_SECONDS = 2
# Links per measured run: more than the fastest run can use, so no profile
# is hit twice.
LINKS = 40_000
WARM_UP_LINKS = 8_000
TARGET_SHARE = 0.70


class LoadToolMissing(Exception):
    pass


def wrk_path() -> str:
    found = shutil.which("wrk")
    if not found:
        raise LoadToolMissing(
            "wrk is not installed; the one-click load test needs it "
            "(Debian: apt-get install -y wrk)."
        )
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """gunicorn on loopback with the bench's environment."""

    def __init__(self, settings_module: str, log: Path):
        self.port = _free_port()
        self.settings_module = settings_module
        self.log = log

    def __enter__(self) -> "Server":
        env = os.environ | {
            "DJANGO_SETTINGS_MODULE": self.settings_module,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": f"http://127.0.0.1:{self.port}",
        }
        self._log = self.log.open("wb")
        self.process = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "campaign.wsgi:application",
                "--workers",
                str(WORKERS),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=PROJECT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn stopped; see {self.log}")
            try:
                urllib.request.urlopen(f"{self.url}/admin/login/", timeout=2).close()
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within 30 s; see {self.log}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log.close()


def _contactable(count: int, after_id: int = 0) -> list[Profile]:
    """Profiles the one-click POST will opt out of e-mail, in id order."""
    return list(
        Profile.objects.filter(
            pk__gt=after_id, email_opt_out=False, no_longer_contact=False
        )
        .exclude(email="")
        .order_by("pk")
        .only("pk", "public_id")[:count]
    )


def _write_paths(path: Path, paths: list[str]) -> None:
    path.write_text("\n".join(paths) + "\n")


def _wrk(url: str, paths_file: Path, seconds: int) -> dict:
    completed = subprocess.run(
        [
            wrk_path(),
            "--threads",
            str(THREADS),
            "--connections",
            str(CONNECTIONS),
            "--duration",
            f"{seconds}s",
            "--timeout",
            "10s",
            "--script",
            str(LUA),
            url,
            "--",
            str(paths_file),
            str(THREADS),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("WRK_JSON "):
            result = json.loads(line.removeprefix("WRK_JSON "))
            result["requests_per_second"] = result["requests"] / (
                result["duration_us"] / 1_000_000
            )
            result["errors"] = sum(
                result[key]
                for key in (
                    "connect_errors",
                    "read_errors",
                    "write_errors",
                    "status_errors",
                    "timeouts",
                )
            )
            return result
    raise RuntimeError(f"wrk printed no summary: {completed.stdout[-2000:]}")


def _ledger_check(profile_ids: list[int], since) -> dict:
    """Opt-outs the run wrote for these profiles, and who is opted out."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), count(DISTINCT profile_id) "
            f"FROM {ConsentEvent._meta.db_table} "
            "WHERE profile_id = ANY(%s) AND created_at >= %s "
            "AND action = 'opt_out' AND channel = 'email' AND source = 'one_click'",
            [profile_ids, since],
        )
        rows, profiles = cursor.fetchone()
        cursor.execute(
            f"SELECT count(*) FROM {Profile._meta.db_table} "
            "WHERE id = ANY(%s) AND email_opt_out",
            [profile_ids],
        )
        opted_out = cursor.fetchone()[0]
    return {
        "ledger_rows": rows,
        "profiles_in_ledger": profiles,
        "profiles_opted_out": opted_out,
        "exactly_once": rows == profiles == opted_out,
    }


def _run(label: str, settings_module: str, folder: Path, warm_up, links) -> dict:
    """Load one server with wrk; check the ledger once it has stopped, so
    requests still in flight when wrk ends are counted too."""
    warm_file, links_file = folder / f"{label}-warm.txt", folder / f"{label}.txt"
    _write_paths(warm_file, [path for path, _pk in warm_up])
    _write_paths(links_file, [path for path, _pk in links])
    with Server(settings_module, folder / f"{label}.log") as server:
        _wrk(server.url, warm_file, WARM_UP_SECONDS)
        with connection.cursor() as cursor:
            cursor.execute("SELECT now()")
            since = cursor.fetchone()[0]
        result = _wrk(server.url, links_file, SECONDS)
    result |= _ledger_check([pk for _path, pk in links], since)
    # More requests than links would hit some profiles twice; the check
    # above still holds (a repeat writes nothing).
    result["links"] = len(links)
    return result


def measure(n: int) -> tuple[Measure, dict]:
    wrk_path()
    per_run = min(LINKS, max((n // 2) - WARM_UP_LINKS, 1000))
    profiles = _contactable(2 * (per_run + WARM_UP_LINKS))
    half = len(profiles) // 2
    app_profiles, base_profiles = profiles[:half], profiles[half:]
    warm = min(WARM_UP_LINKS, half // 5)

    def app_link(profile: Profile) -> tuple[str, int]:
        path = urlsplit(unsubscribe_url(profile, channel="email")).path
        return path, profile.pk

    def base_link(profile: Profile) -> tuple[str, int]:
        return f"/bench/one-click/{profile.public_id}/", profile.pk

    with tempfile.TemporaryDirectory(prefix="bench-oneclick-") as folder:
        folder = Path(folder)
        baseline = _run(
            "baseline",
            "bench.server_settings",
            folder,
            [base_link(p) for p in base_profiles[:warm]],
            [base_link(p) for p in base_profiles[warm:]],
        )
        app = _run(
            "app",
            "campaign.settings",
            folder,
            [app_link(p) for p in app_profiles[:warm]],
            [app_link(p) for p in app_profiles[warm:]],
        )

    share = app["requests_per_second"] / baseline["requests_per_second"]
    clean = (
        app["errors"] == 0
        and baseline["errors"] == 0
        and app["exactly_once"]
        and baseline["exactly_once"]
    )
    return (
        Measure(
            name="one-click unsubscribe under load",
            value=app["requests_per_second"],
            unit="req/s",
            baseline_name="raw SQL view",
            baseline=baseline["requests_per_second"],
            ratio=share,
            target=f">= {TARGET_SHARE:.0%} of baseline, 0 errors, once each",
            ok=share >= TARGET_SHARE and clean,
            note=(
                f"gunicorn {WORKERS} workers, wrk {THREADS} threads x "
                f"{CONNECTIONS} connections x {SECONDS} s on loopback: "
                f"{app['requests']:,} requests, {app['errors']} errors, "
                f"p99 {app['latency_p99_us'] / 1000:.0f} ms; ledger "
                f"{app['ledger_rows']:,} rows for {app['profiles_in_ledger']:,} "
                f"profiles, {app['profiles_opted_out']:,} opted out "
                f"({'exactly once' if app['exactly_once'] else 'MISMATCH'}); "
                f"baseline {baseline['errors']} errors, "
                f"{'exactly once' if baseline['exactly_once'] else 'MISMATCH'}"
            ),
        ),
        {"app": app, "baseline": baseline},
    )
