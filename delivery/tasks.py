"""Delivery batches, and analyses, as Celery tasks.

`dispatch_batches` puts one task per batch on the broker when one is
configured; delivery.actions.send_delivery runs the batches itself when
there is none. A task is acknowledged only when its batch is done
(acks_late): if its worker dies, the broker hands the message to another
worker once the visibility timeout has passed, and send_batch, which
claims rows before sending, takes over what the dead worker left unsent
once its claim has timed out (DELIVERY_CLAIM_TIMEOUT_MINUTES), so the
broker's visibility timeout should be the longer of the two.

`dispatch_analysis` queues the analysis the admin asks for, so a target of
millions is not classified in a web request.
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


@app.task(
    name="delivery.analyse",
    # A worker killed mid-analysis rolled it back: run it again elsewhere.
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def analyse_task(delivery_id: int, operator_id: int | None = None) -> dict | None:
    """Analyse a delivery queued by delivery.actions.request_analysis."""
    from django.contrib.auth import get_user_model

    from delivery.actions import DeliveryStateError, analyze_delivery
    from delivery.models import Delivery

    operator = get_user_model().objects.filter(pk=operator_id).first()
    try:
        result = analyze_delivery(delivery=Delivery(pk=delivery_id), operator=operator)
    except (DeliveryStateError, Delivery.DoesNotExist):
        # Sent, or deleted, while the analysis waited: nothing to analyse.
        Delivery.objects.filter(pk=delivery_id).update(analysis_queued_at=None)
        logger.warning("delivery %s: queued analysis dropped", delivery_id)
        return None
    return result.as_contract()


def dispatch_analysis(delivery_id: int, operator_id: int | None) -> bool:
    """Queue the delivery's analysis; False, queuing nothing, without a
    broker or when it cannot be reached."""
    try:
        return _queue(analyse_task, [(delivery_id, operator_id)])
    except BrokerUnreachable as exc:
        logger.warning(
            "delivery %s: the task broker cannot be reached (%s); analysing "
            "in this process",
            delivery_id,
            type(exc).__name__,
        )
        return False


def dispatch_batches(delivery_id: int, batches: list[tuple[int, int | None]]) -> bool:
    """Queue one task per batch; False, queuing nothing, without a broker.

    Raises sending.SendingStopped when the broker cannot be reached; the
    delivery stays sending and the same call can be made again (a batch
    queued twice sends nobody twice).
    """
    try:
        queued = _queue(send_batch_task, [(delivery_id, *batch) for batch in batches])
    except BrokerUnreachable as exc:
        logger.warning(
            "delivery %s: the task broker cannot be reached (%s)",
            delivery_id,
            type(exc).__name__,
        )
        raise sending.SendingStopped(
            _("The task queue cannot be reached, so no batch was queued.")
        ) from exc
    if queued:
        logger.info("delivery %s: %s batches queued", delivery_id, len(batches))
    return queued


def _queue(task, calls: list[tuple]) -> bool:
    """Put one message per call of the task on the broker, over one
    connection; False without a broker. Raises BrokerUnreachable."""
    broker = settings.CELERY_BROKER_URL
    if not broker:
        return False
    with app.connection_for_write(broker) as connection:
        producer = app.amqp.Producer(connection)
        for arguments in calls:
            task.apply_async(
                arguments,
                producer=producer,
                # Read at each call, so a deployment (or a test) can point
                # the tasks at a queue of its own.
                queue=app.conf.task_default_queue,
            )
    return True
