"""Send a delivery's recipients, batch by batch, each message at most once.

A batch is a range of recipient ids. `send_batch` may run in any process,
any number of times, in parallel with other batches: it sends only the
recipients of its range that nobody has sent yet.

The life of a recipient row:

    pending -> claimed -> sending -> sent | failed
                      \\-> skipped (consent or quarantine changed since the
                                    analysis)

1. Claim: one UPDATE moves the range's pending rows to "claimed" under a
   fresh token. Only rows still pending are taken, so two runs of the same
   batch cannot both take a row.
2. Re-check: one SELECT looks at each claimed profile's consent,
   subscription and address status now; those that changed are skipped.
3. Send, a slice at a time: one UPDATE marks the slice "sending", its
   messages go out over the batch's one connection, and one UPDATE marks
   them sent (failures are written with their error).

At most once. A worker that dies leaves its rows claimed or sending.
Claimed rows were never handed to the mail server: after
DELIVERY_CLAIM_TIMEOUT_MINUTES any later run of the batch takes them over
and sends them, so no recipient is lost. Rows left "sending" may or may not
have reached the server; rather than risk a second copy they are marked
failed with an "outcome unknown" error. DELIVERY_SEND_SLICE bounds how many
recipients one crash can leave in that state.
"""

import logging
import smtplib
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr, parseaddr
from urllib.parse import quote

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.links import unsubscribe_url
from consent.models import Profile
from delivery.analysis import late_check_sql, quoted_table
from delivery.content import MessageContent
from delivery.models import Delivery, Recipient
from delivery.quarantine.actions import record_error, record_success
from delivery.quarantine.classify import classify
from delivery.quarantine.models import ErrorKind, Reason, StatusChange
from delivery.quarantine.models import Status as AddressStatus
from delivery.quarantine.selectors import addresses_on
from delivery.sms import SmsError, SmsMessage, get_sms_backend

logger = logging.getLogger(__name__)

UNKNOWN_OUTCOME = (
    "The sending process stopped while this message was being sent; it may "
    "or may not have gone out and is not sent again."
)


class SendingStopped(Exception):
    """The mail server or SMS provider cannot take messages now.

    The recipients not yet attempted are pending again; running the send
    again resumes it. `attempted` says whether the message being sent when
    it happened may have gone out.
    """

    def __init__(self, message: str, *, attempted: bool = False):
        super().__init__(message)
        self.attempted = attempted


@dataclass
class BatchResult:
    sent: int = 0
    failed: int = 0
    skipped: int = 0

    def __iadd__(self, other: "BatchResult") -> "BatchResult":
        self.sent += other.sent
        self.failed += other.failed
        self.skipped += other.skipped
        return self


def unfinished(delivery: Delivery) -> QuerySet[Recipient]:
    """Recipients still waiting, reserved or being sent."""
    return Recipient.objects.filter(
        delivery=delivery,
        reason="",
        status__in=[
            Recipient.Status.PENDING,
            Recipient.Status.CLAIMED,
            Recipient.Status.SENDING,
        ],
    )


def preview_send(delivery: Delivery) -> dict:
    """What sending would do now, without sending: recipients still to
    send, and those the send-time checks would skip, by reason."""
    sql, params = late_check_sql(delivery, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT x.late, COUNT(*) FROM ({sql}) x GROUP BY x.late", params
        )
        counts = dict(cursor.fetchall())
    to_send = counts.pop(None, 0)
    return {"to_send": to_send, "skipped": dict(sorted(counts.items()))}


def plan_batches(
    delivery_id: int, size: int | None = None
) -> list[tuple[int, int | None]]:
    """Cut the unfinished recipients into id ranges of `size` rows.

    One query: the id of every size-th unfinished recipient starts a
    batch. The last range is open-ended (None).
    """
    size = size or settings.DELIVERY_BATCH_SIZE
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id FROM ("
            " SELECT id, ROW_NUMBER() OVER (ORDER BY id) AS n"
            f" FROM {quoted_table(Recipient)}"
            " WHERE delivery_id = %s AND reason = '' AND status IN (%s, %s, %s)"
            ") numbered WHERE (n - 1) %% %s = 0 ORDER BY id",
            [
                delivery_id,
                Recipient.Status.PENDING,
                Recipient.Status.CLAIMED,
                Recipient.Status.SENDING,
                size,
            ],
        )
        starts = [row[0] for row in cursor.fetchall()]
    ends = [start - 1 for start in starts[1:]] + [None]
    return list(zip(starts, ends, strict=True))


def _in_range(delivery_id: int, first_id: int, last_id: int | None) -> QuerySet:
    rows = Recipient.objects.filter(
        delivery_id=delivery_id, reason="", id__gte=first_id
    )
    if last_id is not None:
        rows = rows.filter(id__lte=last_id)
    return rows


def send_batch(
    delivery_id: int, first_id: int, last_id: int | None = None
) -> BatchResult:
    """Send the unsent recipients of one id range; safe to run again.

    Does nothing unless the delivery is sending. Raises SendingStopped when
    the server or provider cannot be reached, after putting back the
    recipients it had not attempted.
    """
    result = BatchResult()
    delivery = (
        Delivery.objects.select_related("service")
        .filter(pk=delivery_id, status=Delivery.Status.SENDING)
        .first()
    )
    if delivery is None:
        return result

    # Each change to recipient rows below commits with the delivery's
    # totals (no savepoint: nothing here catches an error inside).
    token = uuid.uuid4()
    now = timezone.now()
    stale = now - timedelta(minutes=settings.DELIVERY_CLAIM_TIMEOUT_MINUTES)
    rows = _in_range(delivery_id, first_id, last_id)

    with transaction.atomic(savepoint=False):
        lost = rows.filter(
            status=Recipient.Status.SENDING, claimed_at__lt=stale
        ).update(status=Recipient.Status.FAILED, error=UNKNOWN_OUTCOME)
        _count(delivery_id, BatchResult(failed=lost))
    result.failed += lost
    claimed = rows.filter(
        Q(status=Recipient.Status.PENDING)
        | Q(status=Recipient.Status.CLAIMED, claimed_at__lt=stale)
    ).update(status=Recipient.Status.CLAIMED, claim_token=token, claimed_at=now)

    try:
        sendable = (
            _skip_late_exclusions(delivery, token, now, result) if claimed else []
        )
        if sendable:
            _send(delivery, token, sendable, result)
    finally:
        _release(token)
    return result


def _skip_late_exclusions(delivery, token, now, result: BatchResult) -> list:
    """Skip claimed recipients whose consent or address changed; return the
    others as (recipient id, profile, address) in id order."""
    sql, params = late_check_sql(delivery, claim_token=token, now=now)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        checked = cursor.fetchall()

    late: dict[str, list[int]] = {}
    keep = []
    for recipient_id, profile_id, address, reason in checked:
        if reason:
            late.setdefault(reason, []).append(recipient_id)
        else:
            keep.append((recipient_id, profile_id, address))
    skipped = BatchResult()
    with transaction.atomic(savepoint=False):
        for reason, ids in late.items():
            skipped.skipped += Recipient.objects.filter(
                id__in=ids, claim_token=token
            ).update(status=Recipient.Status.SKIPPED, skip_reason=reason)
        _count(delivery.pk, skipped)
    result += skipped

    profiles = Profile.objects.in_bulk([profile_id for _, profile_id, _ in keep])
    return [
        (recipient_id, profiles[profile_id], address)
        for recipient_id, profile_id, address in keep
        if profile_id in profiles
    ]


def _send(delivery: Delivery, token, sendable: list, result: BatchResult) -> None:
    content = MessageContent(
        subject=delivery.subject, body=delivery.body, channel=delivery.channel
    )
    slice_size = settings.DELIVERY_SEND_SLICE
    backend = _open_backend(delivery)
    try:
        for start in range(0, len(sendable), slice_size):
            part = sendable[start : start + slice_size]
            mine = _mark_sending(token, [row[0] for row in part])
            outcomes = []
            try:
                for recipient_id, profile, address in part:
                    if recipient_id not in mine:
                        continue
                    try:
                        failure = _send_one(
                            backend, delivery, content, profile, address, recipient_id
                        )
                    except SendingStopped as stop:
                        if stop.attempted:
                            outcomes.append((recipient_id, address, _lost(stop)))
                        raise
                    outcomes.append((recipient_id, address, failure))
            finally:
                _record_outcomes(delivery, token, outcomes, result)
    finally:
        _close(backend)


def _close(backend) -> None:
    try:
        backend.close()
    except (OSError, smtplib.SMTPException):
        # The messages are sent and recorded; a failed goodbye changes
        # nothing about them.
        logger.warning("closing the sending connection failed")


def _open_backend(delivery: Delivery):
    try:
        backend = get_connection() if delivery.channel == "email" else get_sms_backend()
    except ImportError as exc:
        raise SendingStopped(
            _("The %(what)s backend in the settings cannot be loaded: %(error)s")
            % {"what": _server_name(delivery), "error": exc}
        ) from exc
    try:
        backend.open()
    except (OSError, smtplib.SMTPException) as exc:
        raise SendingStopped(
            _("The %(what)s cannot be reached: %(error)s")
            % {"what": _server_name(delivery), "error": type(exc).__name__}
        ) from exc
    return backend


def _server_name(delivery: Delivery) -> str:
    return _("mail server") if delivery.channel == "email" else _("SMS provider")


def _mark_sending(token, ids: list[int]) -> set[int]:
    """Move claimed rows to "sending"; return the ids this batch still owns.

    Another run may have taken rows over after the claim timed out; those
    are left to it.
    """
    moved = Recipient.objects.filter(
        id__in=ids, claim_token=token, status=Recipient.Status.CLAIMED
    ).update(status=Recipient.Status.SENDING, claimed_at=timezone.now())
    if moved == len(ids):
        return set(ids)
    return set(
        Recipient.objects.filter(
            id__in=ids, claim_token=token, status=Recipient.Status.SENDING
        ).values_list("id", flat=True)
    )


@dataclass(frozen=True)
class Failure:
    """A message refused for its recipient, as the server or provider said.

    An empty kind means the address is not at fault (the connection was
    lost): the message failed but quarantine is not told.
    """

    kind: str  # ErrorKind, or ""
    reason: str  # quarantine Reason
    status_code: str
    diagnostic: str


def _lost(stop: SendingStopped) -> Failure:
    return Failure("", "", "", f"{UNKNOWN_OUTCOME} ({stop})")


def _send_one(
    backend, delivery, content, profile, address, recipient_id
) -> Failure | None:
    """Send one message; return None when it was accepted.

    Raises SendingStopped when the failure is not about the recipient: the
    connection dropped, or the server refuses the sender.
    """
    link = unsubscribe_url(profile, service=delivery.service, channel=delivery.channel)
    rendered = content.render(profile, unsubscribe_url=link)
    if delivery.channel != "email":
        try:
            backend.send(
                SmsMessage(to=address, body=rendered.text, reference=str(recipient_id))
            )
        except SmsError as exc:
            return Failure(
                kind=ErrorKind.HARD if exc.permanent else ErrorKind.SOFT,
                reason=Reason.USER_UNKNOWN if exc.permanent else Reason.UNREACHABLE,
                status_code=exc.code,
                diagnostic=str(exc),
            )
        except Exception as exc:
            raise SendingStopped(
                _("The SMS provider failed: %(error)s") % {"error": type(exc).__name__},
                attempted=True,
            ) from exc
        return None

    message = _email(delivery, rendered, profile, address, link)
    try:
        backend.send_messages([message])
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()), (0, b""))
        _stop_if_closing(code)
        return classify_refusal(code, _decode(text))
    except smtplib.SMTPDataError as exc:
        _stop_if_closing(exc.smtp_code)
        return classify_refusal(exc.smtp_code, _decode(exc.smtp_error))
    except smtplib.SMTPSenderRefused as exc:
        raise SendingStopped(
            _("The mail server refuses our sender address (%(code)s).")
            % {"code": exc.smtp_code}
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise SendingStopped(
            _("The connection to the mail server was lost: %(error)s")
            % {"error": type(exc).__name__},
            attempted=True,
        ) from exc
    return None


def _stop_if_closing(code: int) -> None:
    """421: the server is closing the connection, whoever the recipient."""
    if code == 421:
        raise SendingStopped(_("The mail server is not taking messages now (421)."))


def _decode(text) -> str:
    if isinstance(text, bytes):
        return text.decode("utf-8", "replace")
    return str(text or "")


def _email(delivery, rendered, profile, address, link) -> EmailMultiAlternatives:
    name = f"{profile.first_name} {profile.last_name}".strip()
    message = EmailMultiAlternatives(
        subject=rendered.subject,
        body=rendered.text,
        to=[formataddr((name, address)) if name else address],
        headers={
            # RFC 2369 and RFC 8058: mail clients show an unsubscribe button
            # and may POST to the https link without opening a page.
            "List-Unsubscribe": f"<{link}>, <{_mailto(link)}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Campaign-Delivery": str(delivery.pk),
            "Precedence": "bulk",
        },
    )
    message.attach_alternative(rendered.html, "text/html")
    return message


def _mailto(link: str) -> str:
    """The mailto: of List-Unsubscribe; its body carries the personal link so
    whoever reads that mailbox can act on it."""
    # TODO: nothing reads this mailbox yet; it can go once inbound mail is
    # processed (the quarantine area reads bounces the same way).
    mailbox = settings.UNSUBSCRIBE_MAILTO
    if not mailbox:
        sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
        mailbox = f"unsubscribe@{sender.rpartition('@')[2] or 'localhost'}"
    return f"mailto:{mailbox}?subject=unsubscribe&body={quote(link, safe='')}"


def classify_refusal(code: int, text: str) -> Failure:
    """Tell a refusal that quarantines at once (hard) from one that counts.

    The rules are the quarantine app's, shared with bounce intake: hard only
    when the server says the address does not exist; refusals about the
    sender, its reputation or a policy, and temporary ones, are soft.
    """
    diagnostic = f"{code} {text}".strip()
    verdict = classify(diagnostic=diagnostic, action="failed")
    # A refusal in the SMTP dialogue is never an out-of-office: it counts.
    kind = ErrorKind.SOFT if verdict.kind == ErrorKind.IGNORED else verdict.kind
    return Failure(kind, verdict.reason, verdict.status, diagnostic)


def _record_outcomes(delivery, token, outcomes: list, result: BatchResult) -> None:
    """Write what a slice's sends did; tell quarantine about each address."""
    if not outcomes:
        return
    now = timezone.now()
    sent = [(rid, address) for rid, address, failure in outcomes if failure is None]
    failed = [(rid, address, f) for rid, address, f in outcomes if f is not None]

    # The rows and the delivery's totals change together: a worker killed
    # after this leaves nothing it sent uncounted.
    recorded = BatchResult()
    with transaction.atomic(savepoint=False):
        if sent:
            recorded.sent += Recipient.objects.filter(
                id__in=[rid for rid, _ in sent], claim_token=token
            ).update(status=Recipient.Status.SENT, sent_at=now)
        for recipient_id, _address, failure in failed:
            recorded.failed += Recipient.objects.filter(
                id=recipient_id, claim_token=token
            ).update(
                status=Recipient.Status.FAILED,
                error=failure.diagnostic[:2000],
                sent_at=now,
            )
        _count(delivery.pk, recorded)
    result += recorded

    for _recipient_id, address, failure in failed:
        if not failure.kind:
            continue
        record_error(
            address=address,
            channel=delivery.channel,
            kind=failure.kind,
            reason=failure.reason,
            source=StatusChange.Source.SEND,
            diagnostic=failure.diagnostic,
            status_code=failure.status_code,
            origin=f"delivery {delivery.pk}",
            occurred_at=now,
        )
    if sent:
        # Only addresses that had errors change on success: find them with
        # one query rather than asking for each address sent.
        recovering = addresses_on(delivery.channel).filter(
            status=AddressStatus.WITH_ERRORS,
            address__in=[address for _, address in sent],
        )
        for address in recovering.values_list("address", flat=True):
            record_success(address=address, channel=delivery.channel)


def _release(token) -> None:
    """Put back the rows of a batch that stopped before attempting them."""
    Recipient.objects.filter(
        claim_token=token,
        status__in=[Recipient.Status.CLAIMED, Recipient.Status.SENDING],
    ).update(status=Recipient.Status.PENDING, claim_token=None, claimed_at=None)


def _count(delivery_id: int, result: BatchResult) -> None:
    """Add to the delivery's totals, in the transaction that changed the
    recipient rows counted."""
    if result.sent or result.failed or result.skipped:
        Delivery.objects.filter(pk=delivery_id).update(
            sent_count=F("sent_count") + result.sent,
            failed_count=F("failed_count") + result.failed,
            skipped_count=F("skipped_count") + result.skipped,
        )
