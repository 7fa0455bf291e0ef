"""The benchmark's bare SQL writes what import_profiles writes.

The import is measured against it, so it must do the same work: the same
profiles, ledger rows and subscriptions for the bench's file. Only what it
cannot do without application code differs: the ids, and the external ids
(the bench gives each run its own, so both create new profiles).
"""

from collections import Counter

import pytest
from django.conf import settings as django_settings
from django.db import connection

from bench.profile_import import bare_sql_seconds, write_file
from bench.seed import seed_services
from consent.imports import import_profiles
from consent.models import ConsentEvent, Profile, Subscription

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres,
    pytest.mark.skipif(
        not django_settings.IS_POSTGRES,
        reason="needs PostgreSQL: the baseline is PostgreSQL's bare SQL",
    ),
]

ROWS = 400
PROFILE_FIELDS = [
    "first_name",
    "last_name",
    "language",
    "email",
    "mobile_phone",
    "no_longer_contact",
    "email_opt_out",
    "sms_opt_out",
    "phone_opt_out",
]


def written(prefix: str) -> tuple[Counter, Counter, Counter]:
    """What the run whose external ids start with `prefix` wrote: its
    profiles (as their values), ledger rows and subscriptions (as kinds)."""
    profiles = Profile.objects.filter(external_id__startswith=f"{prefix}-")
    events = ConsentEvent.objects.filter(profile__in=profiles)
    subscriptions = Subscription.objects.filter(profile__in=profiles)
    return (
        Counter(profiles.values_list(*PROFILE_FIELDS)),
        Counter(events.values_list("action", "channel", "source", "service__name")),
        Counter(
            (name, status, expires is None)
            for name, status, expires in subscriptions.values_list(
                "service__name", "status", "expires_at"
            )
        ),
    )


def test_bare_sql_writes_the_rows_the_import_writes(tmp_path):
    seed_services()
    imported, bare = tmp_path / "import.csv", tmp_path / "bare.csv"
    write_file(imported, ROWS)
    write_file(bare, ROWS, id_prefix="sql1")

    result = import_profiles(imported)
    bare_sql_seconds(bare)

    profiles, events, subscriptions = written("imp")
    assert sum(profiles.values()) == result.created == ROWS
    assert sum(events.values()) == result.consent_events + result.subscriptions
    assert written("sql1") == (profiles, events, subscriptions)
    # The staging table went with the transaction.
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('pg_temp.bench_import_rows')")
        assert cursor.fetchone() == (None,)
