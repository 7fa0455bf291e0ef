"""Bounces for one address arriving at once never lose a count.

Real concurrency needs PostgreSQL's row locks; SQLite serialises whole
transactions and its in-memory test database cannot be shared by threads
reliably, so these run on PostgreSQL only.
"""

import threading

import pytest
from django.conf import settings as django_settings
from django.db import connection

from delivery.quarantine.actions import apply_error
from delivery.quarantine.models import Address, Bounce, Status, StatusChange

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not django_settings.IS_POSTGRES,
        reason="needs PostgreSQL: row locks under real concurrency",
    ),
]

THREADS = 8
ERRORS_EACH = 5


def hammer(address: str, barrier: threading.Barrier, failures: list) -> None:
    try:
        barrier.wait()
        for number in range(ERRORS_EACH):
            apply_error(
                address=address,
                channel="email",
                kind="soft",
                reason="unreachable",
                source=StatusChange.Source.BOUNCE,
                message_id=f"{threading.get_ident()}-{number}",
            )
    except Exception as exc:  # collected and asserted on in the test
        failures.append(exc)
    finally:
        connection.close()


def test_concurrent_soft_errors_on_a_new_address_are_all_counted(settings):
    # Every error counts and none quarantines, so the count shows every one.
    settings.QUARANTINE_SOFT_ERROR_GAP_HOURS = 0
    settings.QUARANTINE_SOFT_ERROR_LIMIT = 1000
    barrier = threading.Barrier(THREADS)
    failures: list = []
    threads = [
        threading.Thread(target=hammer, args=("race@example.com", barrier, failures))
        for _ in range(THREADS)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    row = Address.objects.get()
    assert (row.status, row.error_count) == (Status.WITH_ERRORS, THREADS * ERRORS_EACH)
    assert Bounce.objects.filter(counted=True).count() == THREADS * ERRORS_EACH
    assert StatusChange.objects.count() == 1


def test_concurrent_errors_reach_the_threshold_exactly_once(settings):
    settings.QUARANTINE_SOFT_ERROR_GAP_HOURS = 0
    barrier = threading.Barrier(THREADS)
    failures: list = []
    threads = [
        threading.Thread(target=hammer, args=("edge@example.com", barrier, failures))
        for _ in range(THREADS)
    ]

    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    row = Address.objects.get()
    assert (row.status, row.error_count) == (Status.QUARANTINED, 5)
    assert list(
        StatusChange.objects.order_by("id").values_list("old_status", "new_status")
    ) == [(Status.VALID, Status.WITH_ERRORS), (Status.WITH_ERRORS, Status.QUARANTINED)]
