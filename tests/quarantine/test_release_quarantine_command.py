"""release_quarantine: bulk release after a provider outage."""

import json
from datetime import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from delivery.quarantine.actions import denylist_address, record_error
from delivery.quarantine.models import Address, Status, StatusChange

pytestmark = pytest.mark.django_db


def at(text):
    return timezone.make_aware(datetime.fromisoformat(text))


def error(address, when, *, kind="hard", reason="user_unknown"):
    record_error(
        address=address,
        channel="email",
        kind=kind,
        reason=reason,
        source=StatusChange.Source.BOUNCE,
        occurred_at=at(when),
    )


@pytest.fixture
def outage():
    """A provider answered "user unknown" for everyone on 2 March."""
    error("a@gmail.com", "2026-03-02 08:00")
    error("b@gmail.com", "2026-03-02 23:59")
    error("c@gmail.com", "2026-03-02 12:00", kind="soft", reason="unreachable")
    error("d@gmail.com", "2026-03-03 00:00:01")
    error("e@gmail.com", "2026-03-01 23:59")
    error("f@yahoo.com", "2026-03-02 09:00")
    error("g@gmail.com", "2026-03-02 10:00")
    denylist_address(address="g@gmail.com", channel="email", source="operator")


def run(*args):
    out = StringIO()
    call_command("release_quarantine", *args, stdout=out)
    return out.getvalue()


def test_dry_run_shows_the_count_and_changes_nothing(outage):
    out = run(
        "--domain",
        "gmail.com",
        "--since",
        "2026-03-02",
        "--until",
        "2026-03-02",
        "--dry-run",
    )

    assert "Would release 3 address(es)" in out
    assert Address.objects.filter(status=Status.VALID).count() == 0


def test_release_by_domain_and_day_includes_the_whole_day(outage, superuser):
    out = run(
        "--domain",
        "GMAIL.com",
        "--since",
        "2026-03-02",
        "--until",
        "2026-03-02",
        "--note",
        "provider incident 4711",
    )

    assert "Released 3 address(es)" in out
    statuses = dict(Address.objects.values_list("address", "status"))
    assert [a for a, s in sorted(statuses.items()) if s == Status.VALID] == [
        "a@gmail.com",
        "b@gmail.com",
        "c@gmail.com",
    ]
    assert statuses["g@gmail.com"] == Status.DENYLISTED
    notes = set(
        StatusChange.objects.filter(new_status=Status.VALID).values_list(
            "note", "source"
        )
    )
    assert notes == {("provider incident 4711", StatusChange.Source.OPERATOR)}


def test_release_by_reason_and_time_range(outage):
    out = run(
        "--reason",
        "user_unknown",
        "--since",
        "2026-03-02T09:00",
        "--until",
        "2026-03-02T23:59",
        "--json",
    )

    assert json.loads(out)["released"] == 2  # b@gmail.com and f@yahoo.com
    assert set(
        Address.objects.filter(status=Status.VALID).values_list("address", flat=True)
    ) == {"b@gmail.com", "f@yahoo.com"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--since", "yesterday", "--until", "2026-03-02"],
            "--since: yesterday is not a date",
        ),
        (["--since", "2026-03-03", "--until", "2026-03-02"], "--until: The end comes"),
        (
            ["--since", "2026-03-01", "--until", "2026-03-02", "--reason", "bad"],
            "--reason: Select a valid choice",
        ),
        (
            [
                "--since",
                "2026-03-01",
                "--until",
                "2026-03-02",
                "--domain",
                "not a domain",
            ],
            "--domain: Enter a domain",
        ),
    ],
)
def test_bad_options_release_nothing(outage, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)

    assert not Address.objects.filter(status=Status.VALID).exists()
