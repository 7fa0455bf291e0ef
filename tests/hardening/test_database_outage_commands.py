"""Commands run while the database is away: one clear line, no traceback.

Commands run as an operator or cron runs them, through manage.py in a
subprocess. An unreachable database (a loopback port nothing listens on)
works on both test databases; on PostgreSQL the connection is also killed
in the middle of a command's transaction, which then writes nothing, and
the same command succeeds once the database is back.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from consent.models import Profile, Service
from delivery import actions as delivery_actions
from delivery.models import Recipient
from delivery.quarantine.models import Address, Bounce
from tests.hardening.conftest import postgres_only

ROOT = Path(__file__).resolve().parent.parent.parent
BOUNCE = ROOT / "tests" / "quarantine" / "fixtures" / "exim_user_unknown.eml"
# A loopback port nothing listens on: the server is down.
UNREACHABLE = "postgres://root@127.0.0.1:1/consent"
LOST = "Database unavailable (OperationalError): the command stopped."


def manage(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_") and key != "PYTEST_VERSION"
    }
    env.update(DJANGO_SECRET_KEY="x7#k2!qv" * 8, DATABASE_URL=database_url)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def this_test_database() -> str:
    params = connection.settings_dict
    return (
        f"postgres://{params['USER']}@{params['HOST'] or '127.0.0.1'}:"
        f"{params['PORT'] or 5432}/{params['NAME']}"
    )


@pytest.mark.parametrize(
    ("command", "says"),
    [
        (["analyze_delivery", "1"], LOST),
        (["send_delivery", "1"], LOST),
        (["import_bounces", str(BOUNCE)], LOST),
        (["expire_subscriptions"], LOST),
        (["import_profiles", str(BOUNCE)], "the database connection was lost"),
    ],
    ids=lambda value: value[0] if isinstance(value, list) else "",
)
def test_a_command_run_while_the_database_is_down_says_so_in_one_line(command, says):
    result = manage(*command, database_url=UNREACHABLE)

    assert result.returncode == 1
    assert says in result.stderr
    assert "Traceback" not in result.stderr


@postgres_only
def test_import_bounces_losing_its_connection_writes_nothing_and_runs_again(
    kill_connection_on_insert,
):
    kill_connection_on_insert("quarantine_bounce", any_backend=True)

    cut = manage("import_bounces", str(BOUNCE), database_url=this_test_database())

    assert cut.returncode == 1
    assert LOST in cut.stderr and "Traceback" not in cut.stderr
    assert not Address.objects.exists()
    assert not Bounce.objects.exists()

    kill_connection_on_insert.disarm("quarantine_bounce")
    again = manage("import_bounces", str(BOUNCE), database_url=this_test_database())

    assert again.returncode == 0, again.stderr
    assert Address.objects.get().status == "quarantined"
    assert Bounce.objects.count() == 1


@postgres_only
def test_an_analysis_losing_its_connection_keeps_the_previous_result(
    kill_connection_on_insert, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    Service.objects.create(name="news", label="News")
    Profile.objects.bulk_create(
        Profile(first_name=f"P{n}", email=f"p{n}@example.com") for n in range(5)
    )
    delivery = delivery_actions.create_delivery(
        label="Kept", channel="email", subject="Hi", body="Hello"
    )
    delivery_actions.analyze_delivery(delivery=delivery)
    before = list(Recipient.objects.order_by("pk").values())
    Profile.objects.filter(first_name="P0").update(no_longer_contact=True)
    kill_connection_on_insert("delivery_recipient", any_backend=True)

    cut = manage(
        "analyze_delivery", str(delivery.pk), database_url=this_test_database()
    )

    assert cut.returncode == 1
    assert LOST in cut.stderr and "Traceback" not in cut.stderr
    assert list(Recipient.objects.order_by("pk").values()) == before

    kill_connection_on_insert.disarm("delivery_recipient")
    again = manage(
        "analyze_delivery", str(delivery.pk), database_url=this_test_database()
    )

    assert again.returncode == 0, again.stderr
    assert Recipient.objects.filter(reason="opted_out").count() == 1
