"""send_batch: claims, recovery after a dead worker, and at most once."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from delivery import actions, sending
from delivery.models import Recipient

pytestmark = pytest.mark.django_db


@pytest.fixture
def sending_delivery(make_profile, analysed):
    """A delivery of six recipients, moved to sending, nothing sent yet."""
    for n in range(6):
        make_profile(email=f"p{n}@example.com")
    delivery = analysed()
    return actions.start_sending(delivery=delivery)


def recipient_ids(delivery) -> list[int]:
    return list(
        Recipient.objects.filter(delivery=delivery, reason="")
        .order_by("id")
        .values_list("id", flat=True)
    )


def leave_as_a_dead_worker_would(ids, status, *, minutes_ago: int) -> None:
    Recipient.objects.filter(id__in=ids).update(
        status=status,
        claim_token=uuid.uuid4(),
        claimed_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


def received(inbox) -> list[str]:
    return sorted(address for _, rcpts in inbox.envelopes for address in rcpts)


def test_plan_cuts_the_unsent_recipients_into_ranges_of_the_batch_size(
    sending_delivery,
):
    ids = recipient_ids(sending_delivery)

    assert sending.plan_batches(sending_delivery.pk, size=4) == [
        (ids[0], ids[4] - 1),
        (ids[4], None),
    ]
    Recipient.objects.filter(id__in=ids[:3]).update(status="sent")
    assert sending.plan_batches(sending_delivery.pk, size=2) == [
        (ids[3], ids[5] - 1),
        (ids[5], None),
    ]


def test_a_batch_only_sends_the_recipients_of_its_range(smtp_server, sending_delivery):
    ids = recipient_ids(sending_delivery)

    result = sending.send_batch(sending_delivery.pk, ids[1], ids[2])

    assert result.sent == 2
    assert received(smtp_server) == ["p1@example.com", "p2@example.com"]


def test_a_batch_claimed_by_a_worker_that_died_is_sent_once_after_the_timeout(
    smtp_server, sending_delivery, settings
):
    settings.DELIVERY_CLAIM_TIMEOUT_MINUTES = 30
    ids = recipient_ids(sending_delivery)
    # The dead worker had claimed the first four and sent the first one.
    leave_as_a_dead_worker_would(ids[:4], "claimed", minutes_ago=31)
    Recipient.objects.filter(id=ids[0]).update(status="sent")

    result = actions.send_delivery(delivery=sending_delivery)

    assert result.sent == 5
    assert received(smtp_server) == [f"p{n}@example.com" for n in range(1, 6)]
    assert set(
        Recipient.objects.filter(id__in=ids).values_list("status", flat=True)
    ) == {"sent"}
    assert result.delivery.status == "sent"


def test_a_live_worker_claim_is_left_alone_until_it_times_out(
    smtp_server, sending_delivery, settings
):
    settings.DELIVERY_CLAIM_TIMEOUT_MINUTES = 30
    ids = recipient_ids(sending_delivery)
    leave_as_a_dead_worker_would(ids[:2], "claimed", minutes_ago=5)

    first = actions.send_delivery(delivery=sending_delivery)

    assert first.sent == 4
    assert first.delivery.status == "sending"
    assert "p0@example.com" not in received(smtp_server)

    Recipient.objects.filter(id__in=ids[:2]).update(
        claimed_at=timezone.now() - timedelta(minutes=31)
    )
    second = actions.send_delivery(delivery=sending_delivery)

    assert second.sent == 2
    assert second.delivery.status == "sent"
    assert received(smtp_server) == [f"p{n}@example.com" for n in range(6)]


def test_a_message_a_dead_worker_was_sending_is_not_sent_again(
    smtp_server, sending_delivery
):
    ids = recipient_ids(sending_delivery)
    leave_as_a_dead_worker_would(ids[:1], "sending", minutes_ago=60)

    result = actions.send_delivery(delivery=sending_delivery)

    assert (result.sent, result.failed) == (5, 1)
    assert "p0@example.com" not in received(smtp_server)
    row = Recipient.objects.get(id=ids[0])
    assert row.status == "failed"
    assert row.error == sending.UNKNOWN_OUTCOME
    assert result.delivery.status == "sent"


def test_a_batch_of_a_delivery_not_sending_sends_nothing(
    smtp_server, make_profile, analysed
):
    make_profile(email="ann@example.com")
    delivery = analysed()

    result = sending.send_batch(delivery.pk, 0)

    assert (result.sent, smtp_server.messages) == (0, [])
    assert Recipient.objects.get(delivery=delivery).status == "pending"
