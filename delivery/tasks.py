"""Delivery batches as Celery tasks, and where they are sent from.

`dispatch_batches` puts one task per batch on the broker when one is
configured; delivery.actions.send_delivery runs the batches itself when
there is none. A task is acknowledged only when its batch is done
(acks_late): if its worker dies, the broker hands the message to another
worker once the visibility timeout has passed, and send_batch, which
claims rows before sending, takes over what the dead worker left unsent
once its claim has timed out (DELIVERY_CLAIM_TIMEOUT_MINUTES), so the
broker's visibility timeout should be the longer of the two.
"""

import logging
from dataclasses import asdict

from django.conf import settings
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerUnreachable

from campaign.celery import app
from delivery import sending

logger = logging.getLogger(__name__)


@app.task(
    name="delivery.send_batch",
    acks_late=True,
    # A worker killed mid-batch must not count as done: the message goes
    # back to the queue instead of being acknowledged as failed.
    reject_on_worker_lost=True,
    # The mail server or SMS provider is away: the batch put its recipients
    # back; try again later, a little later each time.
    autoretry_for=(sending.SendingStopped,),
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=10,
    ignore_result=True,
)
def send_batch_task(delivery_id: int, first_id: int, last_id: int | None) -> dict:
    """Send one batch, then mark the delivery sent if nothing is left."""
    from delivery.actions import finish_sending
    from delivery.models import Delivery

    result = sending.send_batch(delivery_id, first_id, last_id)
    finish_sending(delivery=Delivery(pk=delivery_id))
    return asdict(result)


def dispatch_batches(delivery_id: int, batches: list[tuple[int, int | None]]) -> bool:
    """Queue one task per batch; False, queuing nothing, without a broker.

    Raises sending.SendingStopped when the broker cannot be reached; the
    delivery stays sending and the same call can be made again (a batch
    queued twice sends nobody twice).
    """
    broker = settings.CELERY_BROKER_URL
    if not broker:
        return False
    try:
        with app.connection_for_write(broker) as connection:
            producer = app.amqp.Producer(connection)
            for first_id, last_id in batches:
                send_batch_task.apply_async(
                    (delivery_id, first_id, last_id),
                    producer=producer,
                    # Read at each call, so a deployment (or a test) can
                    # point sending at a queue of its own.
                    queue=app.conf.task_default_queue,
                )
    except BrokerUnreachable as exc:
        logger.warning(
            "delivery %s: the task broker cannot be reached (%s)",
            delivery_id,
            type(exc).__name__,
        )
        raise sending.SendingStopped(
            _("The task queue cannot be reached, so no batch was queued.")
        ) from exc
    logger.info("delivery %s: %s batches queued", delivery_id, len(batches))
    return True
