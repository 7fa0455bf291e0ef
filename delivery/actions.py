"""Every change of a delivery's state goes through a function here.

A delivery moves from draft to analysed, sending and sent. Each function
locks the delivery's row, checks the move is allowed, makes it and writes a
DeliveryEvent naming the operator in the same transaction. A move that is
not allowed raises DeliveryStateError with a message an operator can read;
bad content raises ValidationError keyed by field.
"""

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.models import Language, Service
from delivery import analysis, sending, tasks
from delivery.content import compile_template
from delivery.models import (
    Delivery,
    DeliveryChannel,
    DeliveryEvent,
    Exclusion,
    Recipient,
)

logger = logging.getLogger(__name__)

# Fields whose change makes a previous analysis wrong.
TARGET_FIELDS = ("channel", "service", "language", "exclude_duplicates")
CONTENT_FIELDS = ("label", "subject", "body")
EDITABLE_FIELDS = TARGET_FIELDS + CONTENT_FIELDS
# What an analysis sets, and a change of target clears.
ANALYSIS_FIELDS = [
    "status",
    "analysed_at",
    "analysed_by",
    "analysis_seconds",
    "analysis_queued_at",
    "target_count",
    "to_send_count",
    "excluded_counts",
]


class DeliveryStateError(Exception):
    """The delivery is not in a state that allows what was asked."""


def _operator(operator: AbstractBaseUser | None) -> AbstractBaseUser | None:
    if operator is not None and not operator.is_authenticated:
        return None
    return operator


def _record(delivery: Delivery, action: str, operator, **detail) -> None:
    DeliveryEvent.objects.create(
        delivery=delivery, action=action, operator=_operator(operator), detail=detail
    )


def validate_delivery(delivery: Delivery) -> None:
    """Raise ValidationError, keyed by field, when the delivery is unusable."""
    errors: dict[str, list[str]] = {}
    if not (delivery.label or "").strip():
        errors.setdefault("label", []).append(_("Give the delivery a label."))
    if delivery.channel not in DeliveryChannel.values:
        errors.setdefault("channel", []).append(
            _("%(value)s is not a channel deliveries are sent on: use %(choices)s.")
            % {"value": delivery.channel, "choices": " or ".join(DeliveryChannel)}
        )
    if delivery.language and delivery.language not in Language.values:
        errors.setdefault("language", []).append(
            _("%(value)s is not a language of profiles: use %(choices)s.")
            % {"value": delivery.language, "choices": ", ".join(Language.values)}
        )
    service = delivery.service
    if service is not None and service.channel != delivery.channel:
        errors.setdefault("channel", []).append(
            _(
                "The service %(service)s is sent by %(service_channel)s; a "
                "delivery to its subscribers must use the same channel."
            )
            % {"service": service.name, "service_channel": service.channel}
        )
    for field in ("subject", "body"):
        try:
            compile_template(getattr(delivery, field), field=field)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def create_delivery(
    *,
    label: str,
    channel: str,
    service: Service | None = None,
    language: str = "",
    subject: str = "",
    body: str = "",
    exclude_duplicates: bool = True,
    operator: AbstractBaseUser | None = None,
) -> Delivery:
    """Create a draft delivery; raise ValidationError naming a bad field."""
    delivery = Delivery(
        label=(label or "").strip(),
        channel=channel,
        service=service,
        language=language or "",
        subject=subject or "",
        body=body or "",
        exclude_duplicates=exclude_duplicates,
        created_by=_operator(operator),
    )
    validate_delivery(delivery)
    with transaction.atomic():
        delivery.save()
        _record(delivery, DeliveryEvent.Action.CREATED, operator)
    logger.info("delivery %s created", delivery.pk)
    return delivery


def update_delivery(
    *, delivery: Delivery, changes: dict, operator: AbstractBaseUser | None = None
) -> Delivery:
    """Change a delivery's target or content before it is sent.

    Changing the target of an analysed delivery throws its analysis away:
    it is a draft again and needs a new one before it can be sent.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}.")

    with transaction.atomic():
        current = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if current.status not in (Delivery.Status.DRAFT, Delivery.Status.ANALYSED):
            raise DeliveryStateError(
                _("The delivery is %(status)s: it can no longer be changed.")
                % {"status": current.get_status_display().lower()}
            )
        changed = [
            field
            for field, value in changes.items()
            if getattr(current, field) != value
        ]
        if not changed:
            return current
        for field in changed:
            setattr(current, field, changes[field])
        validate_delivery(current)

        fields = list(changed)
        if current.status == Delivery.Status.ANALYSED and set(changed) & set(
            TARGET_FIELDS
        ):
            Recipient.objects.filter(delivery=current).delete()
            _reset_analysis(current)
            fields += ANALYSIS_FIELDS
        current.save(update_fields=fields)
        _record(current, DeliveryEvent.Action.CHANGED, operator, fields=sorted(changed))

    logger.info("delivery %s changed: %s", current.pk, ", ".join(sorted(changed)))
    return current


def _reset_analysis(delivery: Delivery) -> None:
    delivery.status = Delivery.Status.DRAFT
    delivery.analysed_at = None
    delivery.analysed_by = None
    delivery.analysis_seconds = None
    delivery.target_count = None
    delivery.to_send_count = None
    delivery.excluded_counts = {}


@dataclass(frozen=True)
class AnalysisResult:
    delivery: Delivery
    target: int
    excluded: dict[str, int]
    to_send: int
    seconds: float

    def as_contract(self) -> dict:
        """The JSON of `analyze_delivery --json` (DESIGN.md, Contracts)."""
        return {
            "delivery": self.delivery.pk,
            "channel": self.delivery.channel,
            "target": self.target,
            "excluded": {key: self.excluded.get(key, 0) for key in Exclusion.values},
            "to_send": self.to_send,
            "seconds": round(self.seconds, 3),
        }


def analyze_delivery(
    *,
    delivery: Delivery,
    operator: AbstractBaseUser | None = None,
    progress: analysis.Progress | None = None,
) -> AnalysisResult:
    """Classify every target profile and keep the result; return the counts.

    A draft or analysed delivery may be analysed, again and again: each
    run replaces the previous result in one transaction, so a report never
    shows half of one and half of another. The number of queries does not
    depend on the target's size.
    """
    started = time.monotonic()
    with transaction.atomic():
        current = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("service")
            .get(pk=delivery.pk)
        )
        _require_analysable(current)
        now = timezone.now()
        counts = analysis.write_analysis(current, now=now, progress=progress)
        seconds = time.monotonic() - started

        current.status = Delivery.Status.ANALYSED
        current.analysed_at = now
        current.analysed_by = _operator(operator)
        current.analysis_seconds = seconds
        current.analysis_queued_at = None
        current.target_count = counts.target
        current.to_send_count = counts.to_send
        current.excluded_counts = counts.excluded
        current.save(update_fields=ANALYSIS_FIELDS)
        _record(
            current,
            DeliveryEvent.Action.ANALYSED,
            operator,
            target=counts.target,
            to_send=counts.to_send,
        )

    seconds = time.monotonic() - started
    logger.info(
        "delivery %s analysed: %s targeted, %s to send, in %.2fs",
        current.pk,
        counts.target,
        counts.to_send,
        seconds,
    )
    return AnalysisResult(
        delivery=current,
        target=counts.target,
        excluded=counts.excluded,
        to_send=counts.to_send,
        seconds=seconds,
    )


def request_analysis(
    *, delivery: Delivery, operator: AbstractBaseUser | None = None
) -> AnalysisResult | None:
    """Analyse in a Celery worker when a broker is configured, else here.

    Returns None when the analysis was queued: the delivery then shows
    `analysis_queued_at` until a worker has analysed it. A broker that
    cannot be reached is no reason to refuse: the analysis runs here.
    """
    if settings.CELERY_BROKER_URL:
        with transaction.atomic():
            current = Delivery.objects.select_for_update().get(pk=delivery.pk)
            _require_analysable(current)
            current.analysis_queued_at = timezone.now()
            current.save(update_fields=["analysis_queued_at"])
        by = _operator(operator)
        if tasks.dispatch_analysis(current.pk, by.pk if by else None):
            logger.info("delivery %s: analysis queued", current.pk)
            return None
        Delivery.objects.filter(pk=current.pk).update(analysis_queued_at=None)
    return analyze_delivery(delivery=delivery, operator=operator)


def _require_analysable(delivery: Delivery) -> None:
    if delivery.status not in (Delivery.Status.DRAFT, Delivery.Status.ANALYSED):
        raise DeliveryStateError(
            _("The delivery is %(status)s: it cannot be analysed again.")
            % {"status": delivery.get_status_display().lower()}
        )


def start_sending(
    *, delivery: Delivery, operator: AbstractBaseUser | None = None
) -> Delivery:
    """Move an analysed delivery to sending; a delivery already sending
    stays so, which lets an interrupted send be resumed."""
    with transaction.atomic():
        current = (
            Delivery.objects.select_for_update(of=("self",))
            .select_related("service")
            .get(pk=delivery.pk)
        )
        if current.status == Delivery.Status.SENDING:
            return current
        if current.status != Delivery.Status.ANALYSED:
            raise DeliveryStateError(
                _("Only an analysed delivery can be sent; this one is %(status)s.")
                % {"status": current.get_status_display().lower()}
            )
        missing = [
            str(Delivery._meta.get_field(field).verbose_name)
            for field in (
                ("subject", "body") if current.channel == "email" else ("body",)
            )
            if not getattr(current, field).strip()
        ]
        if missing:
            raise DeliveryStateError(
                _("Write the %(fields)s before sending.")
                % {"fields": " and ".join(missing)}
            )
        current.status = Delivery.Status.SENDING
        current.send_started_at = timezone.now()
        current.send_started_by = _operator(operator)
        current.save(update_fields=["status", "send_started_at", "send_started_by"])
        _record(current, DeliveryEvent.Action.SEND_STARTED, operator)
    logger.info("delivery %s: sending started", current.pk)
    return current


def finish_sending(*, delivery: Delivery) -> Delivery:
    """Mark a sending delivery sent once no recipient is left to send.

    Leaves it sending while recipients are still waiting or being sent,
    for example after a mail server outage or while another worker runs.
    """
    with transaction.atomic():
        current = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if current.status != Delivery.Status.SENDING:
            return current
        if sending.unfinished(current).exists():
            return current
        current.status = Delivery.Status.SENT
        current.sent_at = timezone.now()
        current.save(update_fields=["status", "sent_at"])
        _record(
            current,
            DeliveryEvent.Action.SENT,
            None,
            sent=current.sent_count,
            failed=current.failed_count,
            skipped=current.skipped_count,
        )
    logger.info(
        "delivery %s sent: %s sent, %s failed, %s skipped",
        current.pk,
        current.sent_count,
        current.failed_count,
        current.skipped_count,
    )
    return current


@dataclass(frozen=True)
class SendResult:
    delivery: Delivery
    sent: int
    failed: int
    skipped: int
    seconds: float
    # Batches handed to Celery workers; their counts come in as they run.
    queued_batches: int = 0

    def as_json(self) -> dict:
        return {
            "delivery": self.delivery.pk,
            "status": self.delivery.status,
            "sent": self.sent,
            "failed": self.failed,
            "skipped": self.skipped,
            "queued_batches": self.queued_batches,
            "seconds": round(self.seconds, 3),
        }


def send_delivery(
    *,
    delivery: Delivery,
    operator: AbstractBaseUser | None = None,
    progress: analysis.Progress | None = None,
) -> SendResult:
    """Send an analysed delivery to its recipients, batch after batch.

    Every batch looks again at consent and quarantine before sending, and
    each recipient is claimed before its message goes out, so running this
    twice, or after a crash, sends nobody a second copy. Raises
    sending.SendingStopped when the mail server or SMS provider cannot be
    reached; the delivery stays sending and a later run resumes it.
    """
    say = progress or (lambda message: None)
    started = time.monotonic()
    current = start_sending(delivery=delivery, operator=operator)

    batches = sending.plan_batches(current.pk)
    totals = sending.BatchResult()
    say(f"{len(batches)} batches to send")
    # With a broker, Celery workers send the batches (delivery.tasks); the
    # last one to finish marks the delivery sent.
    if tasks.dispatch_batches(current.pk, batches):
        say(f"{len(batches)} batches queued for the workers")
        return SendResult(
            delivery=current,
            sent=0,
            failed=0,
            skipped=0,
            seconds=time.monotonic() - started,
            queued_batches=len(batches),
        )
    for number, (first_id, last_id) in enumerate(batches, start=1):
        totals += sending.send_batch(current.pk, first_id, last_id)
        say(
            f"batch {number}/{len(batches)}: {totals.sent} sent,"
            f" {totals.failed} failed, {totals.skipped} skipped"
        )

    current = finish_sending(delivery=current)
    return SendResult(
        delivery=current,
        sent=totals.sent,
        failed=totals.failed,
        skipped=totals.skipped,
        seconds=time.monotonic() - started,
    )
