"""send_delivery with a broker: Celery worker processes send the batches.

Each test runs real `celery worker` processes against Redis and this run's
database, and a real SMTP server on loopback. The claim every batch takes
before sending is what keeps a recipient from being sent twice, or not at
all, when workers run in parallel or die.
"""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from consent.models import Profile
from delivery import actions
from delivery.models import Delivery, Recipient
from delivery.sending import UNKNOWN_OUTCOME, SendingStopped
from tests.scale.conftest import VISIBILITY_SECONDS, wait_for


def analysed_delivery(count: int) -> tuple[Delivery, list[str]]:
    addresses = [f"reader{n}@example.com" for n in range(count)]
    for n, address in enumerate(addresses):
        Profile.objects.create(first_name=f"Reader{n}", email=address)
    delivery = actions.create_delivery(
        label="Autumn news",
        channel="email",
        subject="Hello {{ first_name }}",
        body="Our autumn news.",
    )
    actions.analyze_delivery(delivery=delivery)
    return delivery, addresses


def statuses(delivery: Delivery) -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in Recipient.objects.filter(delivery=delivery).values_list(
        "status", flat=True
    ):
        counts[status] = counts.get(status, 0) + 1
    return counts


def wait_until_sent(delivery: Delivery) -> Delivery:
    def delivery_is_sent():
        """the delivery to be marked sent"""
        return Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SENT

    wait_for(delivery_is_sent)
    return Delivery.objects.get(pk=delivery.pk)


def let_the_claims_time_out(delivery: Delivery) -> None:
    """What DELIVERY_CLAIM_TIMEOUT_MINUTES of waiting does to the rows a
    dead worker still holds: their claim becomes that old."""
    Recipient.objects.filter(
        delivery=delivery, status__in=["claimed", "sending"]
    ).update(
        claimed_at=timezone.now()
        - timedelta(minutes=settings.DELIVERY_CLAIM_TIMEOUT_MINUTES + 1)
    )


def test_two_workers_send_every_batch_and_every_recipient_exactly_once(
    start_worker, inbox, settings
):
    settings.DELIVERY_BATCH_SIZE = 4
    delivery, addresses = analysed_delivery(24)
    first, second = start_worker("first"), start_worker("second")

    result = actions.send_delivery(delivery=delivery)

    assert result.sent == 0  # queued for the workers, not sent here
    sent = wait_until_sent(delivery)
    assert inbox.recipients == {address: 1 for address in addresses}
    assert statuses(delivery) == {"sent": 24}
    assert (sent.sent_count, sent.failed_count) == (24, 0)
    # Six batches of four, shared by both workers.
    assert first.tasks_done() >= 1 and second.tasks_done() >= 1
    assert first.tasks_done() + second.tasks_done() == 6


def test_a_worker_killed_after_claiming_loses_nobody_and_sends_nobody_twice(
    start_worker, inbox, settings
):
    settings.DELIVERY_BATCH_SIZE = 4
    delivery, addresses = analysed_delivery(12)
    doomed = start_worker("doomed", dies_on_open=True)

    actions.send_delivery(delivery=delivery)

    doomed.process.wait(timeout=60)
    assert doomed.process.returncode == -signal.SIGKILL
    assert statuses(delivery) == {"claimed": 4, "pending": 8}
    assert not inbox.messages

    let_the_claims_time_out(delivery)
    time.sleep(VISIBILITY_SECONDS + 1)
    start_worker("rescuer")

    sent = wait_until_sent(delivery)
    assert inbox.recipients == {address: 1 for address in addresses}
    assert statuses(delivery) == {"sent": 12}
    assert (sent.sent_count, sent.failed_count) == (12, 0)


def test_a_worker_killed_while_sending_sends_nobody_twice_and_leaves_no_one_waiting(
    start_worker, inbox, settings
):
    settings.DELIVERY_BATCH_SIZE = 12
    delivery, addresses = analysed_delivery(12)
    doomed = start_worker("doomed", send_slice=3)

    def kill_the_worker_at_the_fifth_message(arriving: int) -> bool:
        if arriving == 5:
            os.kill(doomed.pid, signal.SIGKILL)
            return True
        return False

    inbox.before_accepting = kill_the_worker_at_the_fifth_message
    actions.send_delivery(delivery=delivery)
    doomed.process.wait(timeout=60)
    inbox.before_accepting = None
    # Slice one (three messages) was sent and recorded; slice two was being
    # sent (its first message accepted, the second cut off); the rest were
    # claimed and never tried.
    assert statuses(delivery) == {"sent": 3, "sending": 3, "claimed": 6}
    assert sum(inbox.recipients.values()) == 4

    let_the_claims_time_out(delivery)
    time.sleep(VISIBILITY_SECONDS + 1)
    start_worker("rescuer")

    sent = wait_until_sent(delivery)
    assert max(inbox.recipients.values()) == 1
    assert sum(inbox.recipients.values()) == 10
    # The slice that was being sent may or may not have gone out: rather
    # than risk a second copy it is recorded as failed, saying so.
    assert statuses(delivery) == {"sent": 9, "failed": 3}
    failed = Recipient.objects.filter(delivery=delivery, status="failed")
    assert {recipient.error for recipient in failed} == {UNKNOWN_OUTCOME}
    assert sent.status == Delivery.Status.SENT
    # The dead worker's recorded slice counts too.
    assert (sent.sent_count, sent.failed_count) == (9, 3)


def test_an_unreachable_broker_stops_the_send_clearly_and_queues_nothing(
    transactional_db, settings
):
    delivery, _addresses = analysed_delivery(3)
    # Nothing listens on port 9 of loopback.
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/15"

    with pytest.raises(SendingStopped, match="task queue cannot be reached"):
        actions.send_delivery(delivery=delivery)

    assert Delivery.objects.get(pk=delivery.pk).status == Delivery.Status.SENDING
    assert statuses(delivery) == {"pending": 3}
