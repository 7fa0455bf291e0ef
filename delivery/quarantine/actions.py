"""Every change of an address's quarantine status goes through a function here.

The rules are those of DESIGN.md, "Quarantine rules"; the thresholds are the
QUARANTINE_* settings. Each function runs in one transaction, locks the
address rows it changes and writes a StatusChange row for every change of
status, so the history always says who or what changed an address, when and
why. A call that changes nothing writes no history.
"""

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from consent.addresses import normalize_address
from delivery.quarantine.models import (
    Address,
    Bounce,
    ErrorKind,
    Reason,
    Status,
    StatusChange,
)
from delivery.quarantine.selectors import expired_error_addresses

logger = logging.getLogger(__name__)

Source = StatusChange.Source

# Rows changed per statement by the bulk functions: small enough for any
# database's limit on query parameters, large enough to keep round trips few.
BATCH_SIZE = 1000

# Stored text is capped so one oversized bounce cannot bloat the table.
MAX_DIAGNOSTIC_CHARS = 10_000
MAX_RAW_CHARS = 200_000

# An operator or an import may set these; with_errors is reached only by
# counting errors.
SETTABLE_STATUSES = (
    Status.VALID,
    Status.QUARANTINED,
    Status.DENYLISTED,
    Status.ALLOWLISTED,
)

# Statuses that carry an error count; leaving them restarts the count.
_COUNTING_RESETS = {
    "error_count": 0,
    "first_error_at": None,
    "last_counted_error_at": None,
}


# What an error may change on an address row.
_ERROR_FIELDS = [
    "status",
    "reason",
    "error_count",
    "first_error_at",
    "last_error_at",
    "last_counted_error_at",
    "last_diagnostic",
    "updated_at",
]


@dataclass(frozen=True)
class ErrorOutcome:
    """What record_error did with one reported error."""

    address: Address
    old_status: str
    counted: bool
    duplicate: bool

    @property
    def changed(self) -> bool:
        return self.address.status != self.old_status


@dataclass(frozen=True)
class StatusRow:
    """One wanted status of an address, as an import file gives it."""

    address: str
    channel: str
    status: str
    reason: str = ""


def batched(items: Iterable, size: int) -> Iterable[list]:
    """Successive lists of at most `size` items (like 3.12's batched)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def clean_text(value: str, limit: int) -> str:
    """Drop NUL characters (PostgreSQL refuses them) and cap the length."""
    text = (value or "").replace("\x00", "")
    # A lone surrogate (JSON may escape one) is not UTF-8 and no database
    # stores it; it becomes "?".
    text = text.encode("utf-8", "replace").decode("utf-8")
    if len(text) > limit:
        return text[:limit] + "\n[truncated]"
    return text


def domain_of(address: str, channel: str) -> str:
    """The domain an e-mail address belongs to; empty for phone numbers."""
    if channel != "email" or "@" not in address:
        return ""
    return address.rsplit("@", 1)[1]


def _operator_or_none(operator: AbstractBaseUser | None) -> AbstractBaseUser | None:
    if operator is not None and not operator.is_authenticated:
        return None
    return operator


def _locked_row(address: str, channel: str) -> Address:
    """Lock the address's row, creating it (valid) when there is none.

    The insert skips a row that exists (INSERT ... ON CONFLICT DO NOTHING);
    two transactions creating the same row at once meet on the unique
    constraint, and the second waits for the first and then locks its row,
    so no error is lost and no savepoint is needed.
    """
    locked = Address.objects.select_for_update().filter(
        address=address, channel=channel
    )
    row = next(iter(locked), None)
    if row is None:
        Address.objects.bulk_create(
            [
                Address(
                    address=address,
                    channel=channel,
                    domain=domain_of(address, channel),
                )
            ],
            ignore_conflicts=True,
        )
        row = locked.get()
    return row


def _set_status(
    row: Address,
    *,
    new_status: str,
    reason: str,
    source: str,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> bool:
    """Move a locked row to a status and record the change; return whether
    anything changed."""
    if row.status == new_status and row.reason == reason:
        return False

    old_status = row.status
    row.status = new_status
    row.reason = reason
    fields = ["status", "reason", "updated_at"]
    if new_status in (Status.VALID, Status.ALLOWLISTED):
        for field, value in _COUNTING_RESETS.items():
            setattr(row, field, value)
        fields.extend(_COUNTING_RESETS)
    row.save(update_fields=fields)

    StatusChange.objects.create(
        address=row,
        old_status=old_status,
        new_status=new_status,
        reason=reason,
        source=source,
        operator=_operator_or_none(operator),
        note=note,
    )
    logger.info(
        "address %s: %s -> %s (%s, source %s)",
        row.pk,
        old_status,
        new_status,
        reason or "no reason",
        source,
    )
    return True


def _untouched_by(kind: str, row: Address) -> bool:
    """Ignored errors never count; allowlisted and denylisted rows are never
    changed by errors."""
    return kind == ErrorKind.IGNORED or row.status in (
        Status.ALLOWLISTED,
        Status.DENYLISTED,
    )


def _apply_error(row: Address, *, kind: str, reason: str, diagnostic: str, at) -> bool:
    """Apply one error to a locked row in memory; return whether it counted.

    A quarantined row only notes the latest error.
    """
    row.last_error_at = max(row.last_error_at or at, at)
    row.last_diagnostic = diagnostic
    if row.status == Status.QUARANTINED:
        return False

    if kind == ErrorKind.HARD:
        row.status = Status.QUARANTINED
        row.reason = reason
        row.first_error_at = row.first_error_at or at
        return True

    gap = timedelta(hours=settings.QUARANTINE_SOFT_ERROR_GAP_HOURS)
    reset_after = timedelta(days=settings.QUARANTINE_ERROR_RESET_DAYS)
    last_counted = row.last_counted_error_at
    if last_counted is not None and at - last_counted > reset_after:
        row.error_count = 0
        row.first_error_at = None
        last_counted = None

    # Reports may arrive out of order (an old mailbox imported late), so the
    # gap is measured either side of the last counted error.
    counted = last_counted is None or abs(at - last_counted) >= gap
    if counted:
        row.error_count += 1
        row.last_counted_error_at = max(last_counted or at, at)
    row.first_error_at = min(row.first_error_at or at, at)
    row.reason = reason

    if row.error_count >= settings.QUARANTINE_SOFT_ERROR_LIMIT:
        row.status = Status.QUARANTINED
    else:
        row.status = Status.WITH_ERRORS
    return counted


def apply_error(
    *,
    address: str,
    channel: str,
    kind: str,
    reason: str,
    source: str,
    diagnostic: str = "",
    status_code: str = "",
    origin: str = "",
    raw: str = "",
    message_id: str = "",
    occurred_at: datetime | None = None,
) -> ErrorOutcome:
    """Record one delivery error for an address and apply the rules.

    The address is normalised here (ValidationError when it is not an
    address of the channel). The error is kept as a Bounce row whatever its
    effect. `message_id` names the report (a bounce's Message-ID, a
    provider's event id): the same report for the same address is applied
    once, so importing a mailbox twice or a retried webhook counts nothing
    twice.
    """
    if kind not in ErrorKind.values:
        raise ValueError(f"Unknown error kind {kind!r}.")
    if reason not in Reason.values:
        raise ValueError(f"Unknown reason {reason!r}.")
    normalized = normalize_address(channel, address)
    now = timezone.now()
    # A report dated in the future (a sender's clock) is taken as now, so it
    # cannot hold back the upkeep.
    at = min(occurred_at or now, now)
    diagnostic = clean_text(diagnostic, MAX_DIAGNOSTIC_CHARS)
    message_id = clean_text(message_id, 500)[:500]

    with transaction.atomic():
        row = _locked_row(normalized, channel)
        old_status = row.status
        if message_id and row.bounces.filter(message_id=message_id).exists():
            return ErrorOutcome(row, old_status, counted=False, duplicate=True)

        counted = False
        if not _untouched_by(kind, row):
            counted = _apply_error(
                row, kind=kind, reason=reason, diagnostic=diagnostic, at=at
            )
            row.save(update_fields=_ERROR_FIELDS)
        Bounce.objects.create(
            address=row,
            kind=kind,
            reason=reason,
            status_code=clean_text(status_code, 20)[:20],
            diagnostic=diagnostic,
            source=source,
            origin=clean_text(origin, 500)[:500],
            message_id=message_id,
            raw=clean_text(raw, MAX_RAW_CHARS),
            counted=counted,
            occurred_at=at,
        )
        if row.status != old_status:
            StatusChange.objects.create(
                address=row,
                old_status=old_status,
                new_status=row.status,
                reason=row.reason,
                source=source,
                note=(f"{kind} error" + (f" {status_code}" if status_code else "")),
            )

    # Status changes are worth a line each; the rest would flood a large
    # import's log and is kept in the Bounce rows anyway.
    logger.log(
        logging.INFO if row.status != old_status else logging.DEBUG,
        "address %s: %s error (%s) from %s, counted %s, status %s -> %s",
        row.pk,
        kind,
        reason,
        source,
        counted,
        old_status,
        row.status,
    )
    return ErrorOutcome(row, old_status, counted=counted, duplicate=False)


def record_error(
    *,
    address: str,
    channel: str,
    kind: str,
    reason: str,
    source: str,
    diagnostic: str = "",
    status_code: str = "",
    origin: str = "",
    raw: str = "",
    message_id: str = "",
    occurred_at: datetime | None = None,
) -> Address:
    """Record one delivery error (see apply_error); return the address row."""
    return apply_error(
        address=address,
        channel=channel,
        kind=kind,
        reason=reason,
        source=source,
        diagnostic=diagnostic,
        status_code=status_code,
        origin=origin,
        raw=raw,
        message_id=message_id,
        occurred_at=occurred_at,
    ).address


def record_success(*, address: str, channel: str) -> None:
    """A message reached the address: with_errors returns to valid."""
    normalized = normalize_address(channel, address)
    with transaction.atomic():
        row = (
            Address.objects.select_for_update()
            .filter(address=normalized, channel=channel, status=Status.WITH_ERRORS)
            .first()
        )
        if row is not None:
            _set_status(
                row,
                new_status=Status.VALID,
                reason="",
                source=Source.SEND,
                note="successful send",
            )


def record_successes(*, addresses: Iterable[str], channel: str) -> int:
    """record_success for many normalised addresses at once; return how many
    returned to valid."""
    wanted = list(dict.fromkeys(addresses))
    changed = 0
    for chunk in batched(wanted, BATCH_SIZE):
        changed += _change_in_bulk(
            Address.objects.filter(
                channel=channel, address__in=chunk, status=Status.WITH_ERRORS
            ),
            new_status=Status.VALID,
            reason="",
            source=Source.SEND,
            note="successful send",
        )
    return changed


def record_complaint(
    *,
    address: str,
    channel: str = "email",
    source: str = Source.COMPLAINT,
    note: str = "",
) -> bool:
    """A spam complaint denylists the address, unless it is allowlisted."""
    return _denylist_unless_allowlisted(
        address=address,
        channel=channel,
        reason=Reason.SPAM_COMPLAINT,
        source=source,
        note=note or "spam complaint",
    )


def record_stop_reply(
    *, phone: str, source: str = Source.SMS_STOP, note: str = ""
) -> bool:
    """An SMS reply STOP denylists the number, unless it is allowlisted.

    The reason is `refused`: the person refused further messages.
    """
    # TODO: nothing receives SMS replies yet; the SMS provider's inbound
    # webhook calls this once SMS sending has one.
    return _denylist_unless_allowlisted(
        address=phone,
        channel="sms",
        reason=Reason.REFUSED,
        source=source,
        note=note or "STOP reply",
    )


def _denylist_unless_allowlisted(
    *, address: str, channel: str, reason: str, source: str, note: str
) -> bool:
    normalized = normalize_address(channel, address)
    with transaction.atomic():
        row = _locked_row(normalized, channel)
        if row.status in (Status.ALLOWLISTED, Status.DENYLISTED):
            return False
        return _set_status(
            row, new_status=Status.DENYLISTED, reason=reason, source=source, note=note
        )


def denylist_address(
    *,
    address: str,
    channel: str,
    reason: str = Reason.MANUAL,
    source: str,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> bool:
    """Keep the address out of every delivery; return whether it changed."""
    normalized = normalize_address(channel, address)
    with transaction.atomic():
        row = _locked_row(normalized, channel)
        if row.status == Status.DENYLISTED:
            return False
        return _set_status(
            row,
            new_status=Status.DENYLISTED,
            reason=reason,
            source=source,
            operator=operator,
            note=note,
        )


def allowlist_address(
    *,
    address: str,
    channel: str,
    source: str,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> bool:
    """Never exclude the address and let no error change it."""
    normalized = normalize_address(channel, address)
    with transaction.atomic():
        row = _locked_row(normalized, channel)
        return _set_status(
            row,
            new_status=Status.ALLOWLISTED,
            reason="",
            source=source,
            operator=operator,
            note=note,
        )


def release_address(
    *,
    address: str,
    channel: str,
    source: str,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> bool:
    """Make the address valid again, its error count restarted."""
    normalized = normalize_address(channel, address)
    with transaction.atomic():
        row = (
            Address.objects.select_for_update()
            .filter(address=normalized, channel=channel)
            .first()
        )
        if row is None:
            return False
        return _set_status(
            row,
            new_status=Status.VALID,
            reason="",
            source=source,
            operator=operator,
            note=note,
        )


def _change_in_bulk(
    addresses: QuerySet[Address],
    *,
    new_status: str,
    reason: str,
    source: str,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> int:
    """Move every address of the queryset to a status; return how many moved.

    Rows are locked and changed in batches of BATCH_SIZE, each with one
    UPDATE and one bulk INSERT of history, all in one transaction. Under
    PostgreSQL the lock re-checks the filter, so a row that changed
    meanwhile is skipped rather than overwritten.
    """
    # A subquery on ids drops whatever the caller's queryset carried
    # (ordering, DISTINCT) that a locking query may not have.
    candidates = Address.objects.filter(pk__in=addresses.values("pk")).exclude(
        status=new_status
    )
    operator = _operator_or_none(operator)
    updates = {"status": new_status, "reason": reason}
    if new_status in (Status.VALID, Status.ALLOWLISTED):
        updates.update(_COUNTING_RESETS)

    changed = 0
    with transaction.atomic():
        last_pk = 0
        while True:
            batch = list(
                candidates.filter(pk__gt=last_pk)
                .order_by("pk")
                .select_for_update()
                .values_list("pk", "status")[:BATCH_SIZE]
            )
            if not batch:
                break
            last_pk = batch[-1][0]
            Address.objects.filter(pk__in=[pk for pk, _ in batch]).update(
                updated_at=timezone.now(), **updates
            )
            StatusChange.objects.bulk_create(
                StatusChange(
                    address_id=pk,
                    old_status=old_status,
                    new_status=new_status,
                    reason=reason,
                    source=source,
                    operator=operator,
                    note=note,
                )
                for pk, old_status in batch
            )
            changed += len(batch)

    if changed:
        logger.info("%s addresses moved to %s (source %s)", changed, new_status, source)
    return changed


def release_addresses(
    *,
    addresses: QuerySet[Address],
    source: str,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> int:
    """Make every address of the queryset valid; return how many changed."""
    return _change_in_bulk(
        addresses,
        new_status=Status.VALID,
        reason="",
        source=source,
        operator=operator,
        note=note,
    )


def denylist_addresses(
    *,
    addresses: QuerySet[Address],
    reason: str = Reason.MANUAL,
    source: str,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> int:
    """Denylist every address of the queryset; return how many changed."""
    return _change_in_bulk(
        addresses,
        new_status=Status.DENYLISTED,
        reason=reason,
        source=source,
        operator=operator,
        note=note,
    )


def allowlist_addresses(
    *,
    addresses: QuerySet[Address],
    source: str,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> int:
    """Allowlist every address of the queryset; return how many changed."""
    return _change_in_bulk(
        addresses,
        new_status=Status.ALLOWLISTED,
        reason="",
        source=source,
        operator=operator,
        note=note,
    )


def release_outage(
    *,
    addresses: QuerySet[Address],
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> int:
    """Release addresses an outage put in quarantine or with errors.

    Denylisted and allowlisted addresses are left alone: an outage says
    nothing about a complaint or an operator's choice.
    """
    return release_addresses(
        addresses=addresses.filter(status__in=(Status.QUARANTINED, Status.WITH_ERRORS)),
        source=Source.OPERATOR,
        operator=operator,
        note=note or "released after a provider outage",
    )


def lift_expired_errors(*, now: datetime | None = None) -> dict[str, int]:
    """The upkeep: with_errors addresses whose last error is old enough
    return to valid. Quarantined and denylisted addresses never do.

    Return how many changed, for full mailboxes and for the other reasons.
    """
    now = now or timezone.now()
    expired = expired_error_addresses(now=now)
    regular_days = settings.QUARANTINE_ERROR_RESET_DAYS
    full_days = settings.QUARANTINE_MAILBOX_FULL_RESET_DAYS
    with transaction.atomic():
        mailbox_full = _change_in_bulk(
            expired.filter(reason=Reason.MAILBOX_FULL),
            new_status=Status.VALID,
            reason="",
            source=Source.UPKEEP,
            note=f"last error more than {full_days} days old",
        )
        other = _change_in_bulk(
            expired.exclude(reason=Reason.MAILBOX_FULL),
            new_status=Status.VALID,
            reason="",
            source=Source.UPKEEP,
            note=f"last error more than {regular_days} days old",
        )
    logger.info(
        "upkeep: %s addresses back to valid (%s with a full mailbox)",
        mailbox_full + other,
        mailbox_full,
    )
    return {"mailbox_full": mailbox_full, "other": other}


def mark_false_positive(
    *, bounce: Bounce, operator: AbstractBaseUser | None, note: str
) -> bool:
    """Flag a bounce as wrongly reported and release its address.

    The address is released only from the statuses errors lead to
    (with_errors, quarantined); return whether it was.
    """
    with transaction.atomic():
        Bounce.objects.filter(pk=bounce.pk).update(false_positive=True)
        bounce.false_positive = True
        row = Address.objects.select_for_update().get(pk=bounce.address_id)
        if row.status not in (Status.WITH_ERRORS, Status.QUARANTINED):
            return False
        return _set_status(
            row,
            new_status=Status.VALID,
            reason="",
            source=Source.OPERATOR,
            operator=operator,
            note=f"false positive (bounce #{bounce.pk}): {note}".strip(),
        )


@dataclass
class ImportCounts:
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def import_statuses(
    *,
    rows: Iterable[StatusRow],
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> ImportCounts:
    """Set many addresses to the given statuses, in batches, in one
    transaction; every change is recorded with source `import`.

    Rows must be validated and normalised (see quarantine.imports). A row
    asking for `valid` for an address without a row needs nothing.
    """
    counts = ImportCounts()
    operator = _operator_or_none(operator)
    now = timezone.now()

    with transaction.atomic():
        for chunk in batched(rows, BATCH_SIZE):
            wanted = {(row.channel, row.address): row for row in chunk}
            locked = _lock_rows(wanted)
            missing = [
                key
                for key, row in wanted.items()
                if key not in locked and row.status != Status.VALID
            ]
            if missing:
                Address.objects.bulk_create(
                    [
                        Address(
                            address=address,
                            channel=channel,
                            domain=domain_of(address, channel),
                        )
                        for channel, address in missing
                    ],
                    ignore_conflicts=True,
                )
                locked.update(_lock_rows({key: wanted[key] for key in missing}))
            created = set(missing)

            created_pks = {locked[key][0] for key in created if key in locked}
            # Same target, same statement: one UPDATE per (status, reason).
            groups: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
            for key, row in wanted.items():
                current = locked.get(key)
                if current is None:
                    counts.unchanged += 1
                    continue
                pk, old_status, old_reason = current
                if (old_status, old_reason) == (row.status, row.reason):
                    counts.unchanged += 1
                    continue
                groups[(row.status, row.reason)].append((pk, old_status))

            for (status, reason), members in groups.items():
                updates = {"status": status, "reason": reason, "updated_at": now}
                if status in (Status.VALID, Status.ALLOWLISTED):
                    updates.update(_COUNTING_RESETS)
                Address.objects.filter(pk__in=[pk for pk, _ in members]).update(
                    **updates
                )
                StatusChange.objects.bulk_create(
                    StatusChange(
                        address_id=pk,
                        old_status=old_status,
                        new_status=status,
                        reason=reason,
                        source=Source.IMPORT,
                        operator=operator,
                        note=note,
                    )
                    for pk, old_status in members
                )
            # A row created here at valid and then set counts as created.
            for members in groups.values():
                for pk, _ in members:
                    if pk in created_pks:
                        counts.created += 1
                    else:
                        counts.changed += 1
    logger.info(
        "quarantine import: %s created, %s changed, %s unchanged",
        counts.created,
        counts.changed,
        counts.unchanged,
    )
    return counts


def _lock_rows(
    wanted: dict[tuple[str, str], StatusRow],
) -> dict[tuple[str, str], tuple[int, str, str]]:
    by_channel: dict[str, list[str]] = defaultdict(list)
    for channel, address in wanted:
        by_channel[channel].append(address)
    found = {}
    for channel, addresses in by_channel.items():
        for pk, address, status, reason in (
            Address.objects.select_for_update()
            .filter(channel=channel, address__in=addresses)
            .order_by("pk")
            .values_list("pk", "address", "status", "reason")
        ):
            found[(channel, address)] = (pk, status, reason)
    return found
