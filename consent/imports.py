"""Import profiles, their consent and subscriptions from a CSV file.

The whole file is read and validated before anything is written; the write
is one transaction of bulk statements, so a 100,000-row file costs a few
dozen queries, not one per row. Every consent flag an import changes, and
every subscription it starts, is written to the ledger with source
`import`.
"""

import csv
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from consent.addresses import normalize_email, normalize_phone
from consent.models import (
    OPT_OUT_FIELDS,
    ConsentEvent,
    Language,
    Profile,
    Service,
    Subscription,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 5000
MAX_CELL = 10_000

TEXT_COLUMNS = {"external_id": 100, "first_name": 150, "last_name": 150}
ADDRESS_COLUMNS = ("email", "mobile_phone")
# Each consent flag column (named like its Profile field) and its channel;
# None is "no longer contact".
FLAG_CHANNELS = {"no_longer_contact": None} | {
    field: channel for channel, field in OPT_OUT_FIELDS.items()
}
FLAG_COLUMNS = tuple(FLAG_CHANNELS)
COLUMNS = (
    *TEXT_COLUMNS,
    *ADDRESS_COLUMNS,
    "language",
    *FLAG_COLUMNS,
    "services",
)
TRUE_WORDS = {"true", "1", "yes"}
FALSE_WORDS = {"false", "0", "no", ""}
LANGUAGES = {code.replace("_", "-"): code for code in Language.values} | {
    "pt": "pt-br",
    "pt-br": "pt-br",
    "en-us": "en",
    "en-gb": "en",
}


class ImportRejected(Exception):
    """The file cannot be imported; `errors` says where and why."""

    def __init__(self, errors: list["RowError"]):
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s) in the file")


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.message}"


@dataclass
class Row:
    line: int
    values: dict = field(default_factory=dict)
    flags: dict = field(default_factory=dict)
    services: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    rows: int = 0
    created: int = 0
    updated: int = 0
    consent_events: int = 0
    subscriptions: int = 0
    skipped: list[RowError] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "consent_events": self.consent_events,
            "subscriptions": self.subscriptions,
            "skipped": len({error.line for error in self.skipped}),
            "errors": [error.__dict__ for error in self.skipped],
        }


Progress = Callable[[str, int, int], None]


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [RowError(line, "-", "the file is not UTF-8 text; save it as UTF-8")]
        ) from None


def _parse_bool(value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{value[:40]!r} is not one of true/false/1/0/yes/no")


def _read_rows(
    text: str, services: dict[str, Service]
) -> tuple[list[str], list[Row], list[RowError]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except StopIteration:
        raise ImportRejected([RowError(1, "-", "the file is empty")]) from None
    except csv.Error as exc:
        raise ImportRejected(
            [RowError(1, "-", f"not readable as CSV: {exc}")]
        ) from None

    problems = []
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        problems.append(
            RowError(
                1,
                ", ".join(unknown),
                "unknown column; known columns are " + ", ".join(COLUMNS),
            )
        )
    repeated = {name for name in header if header.count(name) > 1}
    if repeated:
        problems.append(RowError(1, ", ".join(sorted(repeated)), "column repeated"))
    if not any(name in header for name in ADDRESS_COLUMNS):
        problems.append(
            RowError(1, "email/mobile_phone", "the file needs an address column")
        )
    if problems:
        raise ImportRejected(problems)

    rows: list[Row] = []
    errors: list[RowError] = []
    seen_ids: dict[str, int] = {}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(reader.line_num, "-", f"not readable as CSV: {exc}"))
            break
        if not any(cell.strip() for cell in cells):
            continue
        row, row_errors = _validate(reader.line_num, header, cells, services)
        external_id = row.values.get("external_id")
        if external_id:
            if external_id in seen_ids:
                row_errors.append(
                    RowError(
                        row.line,
                        "external_id",
                        f"already used on line {seen_ids[external_id]}",
                    )
                )
            else:
                seen_ids[external_id] = row.line
        if row_errors:
            errors.extend(row_errors)
        else:
            rows.append(row)
    return header, rows, errors


def _validate(
    line: int, header: list[str], cells: list[str], services: dict[str, Service]
) -> tuple[Row, list[RowError]]:
    row = Row(line=line)
    errors = []
    if len(cells) != len(header):
        errors.append(
            RowError(
                line, "-", f"{len(cells)} cells where the header has {len(header)}"
            )
        )
        return row, errors

    for name, raw in zip(header, cells, strict=True):
        value = raw.strip()
        if len(value) > MAX_CELL:
            errors.append(RowError(line, name, f"longer than {MAX_CELL} characters"))
            continue
        try:
            if name in TEXT_COLUMNS:
                if len(value) > TEXT_COLUMNS[name]:
                    raise ValueError(f"at most {TEXT_COLUMNS[name]} characters")
                row.values[name] = value
            elif name == "email":
                row.values[name] = normalize_email(value) if value else ""
            elif name == "mobile_phone":
                row.values[name] = normalize_phone(value) if value else ""
            elif name == "language":
                if value:
                    key = value.lower().replace("_", "-")
                    if key not in LANGUAGES:
                        raise ValueError(
                            f"{value[:20]!r} is not a language we offer "
                            f"({', '.join(Language.values)})"
                        )
                    row.values[name] = LANGUAGES[key]
            elif name in FLAG_COLUMNS:
                row.flags[name] = _parse_bool(value)
            elif name == "services":
                names = [item.strip() for item in value.split(";") if item.strip()]
                missing = [item for item in names if item not in services]
                if missing:
                    raise ValueError(f"no service named {', '.join(missing)[:200]}")
                row.services = list(dict.fromkeys(names))
        except ValidationError as exc:
            errors.append(RowError(line, name, " ".join(exc.messages)))
        except ValueError as exc:
            errors.append(RowError(line, name, str(exc)))

    if not errors and not row.values.get("external_id"):
        if not (row.values.get("email") or row.values.get("mobile_phone")):
            errors.append(
                RowError(line, "email/mobile_phone", "a new profile needs an address")
            )
    return row, errors


def _chunks(items: list, size: int = BATCH_SIZE) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_profiles(
    path: Path,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Validate the whole file, then write it in one transaction.

    Raise ImportRejected, writing nothing, when any row is bad, unless
    skip_invalid is set: then the good rows are written and the bad ones
    reported in the result.
    """
    services = {service.name: service for service in Service.objects.all()}
    _header, rows, errors = _read_rows(_decode(path.read_bytes()), services)
    if errors and not skip_invalid:
        raise ImportRejected(errors)

    result = ImportResult(rows=len(rows) + len({e.line for e in errors}))
    result.skipped = errors
    with transaction.atomic():
        _write(rows, services, result, progress)
    logger.info(
        "profile import: %s rows, %s created, %s updated, %s consent events, "
        "%s skipped",
        result.rows,
        result.created,
        result.updated,
        result.consent_events,
        len(result.skipped),
    )
    return result


def _write(
    rows: list[Row],
    services: dict[str, Service],
    result: ImportResult,
    progress: Progress | None,
) -> None:
    now = timezone.now()
    origin_fields = {"source": ConsentEvent.Source.IMPORT}
    events: list[ConsentEvent] = []

    existing: dict[str, Profile] = {}
    external_ids = [
        row.values["external_id"] for row in rows if row.values.get("external_id")
    ]
    for chunk in _chunks(external_ids):
        for profile in (
            Profile.objects.filter(external_id__in=chunk)
            .only("pk", "external_id", *FLAG_COLUMNS, "email", "mobile_phone")
            .select_for_update(no_key=True)
        ):
            existing[profile.external_id] = profile

    to_create: list[Profile] = []
    to_update: list[Profile] = []
    update_fields: set[str] = set()
    for row in rows:
        profile = existing.get(row.values.get("external_id") or "")
        if profile is None:
            profile = Profile(**row.values, **row.flags)
            if not profile.external_id:
                profile.external_id = None
            to_create.append(profile)
            continue
        for name, value in row.values.items():
            # An empty address cell keeps the address the profile has.
            if name in ADDRESS_COLUMNS and not value:
                continue
            setattr(profile, name, value)
            update_fields.add(name)
        for name, value in row.flags.items():
            if getattr(profile, name) != value:
                setattr(profile, name, value)
                update_fields.add(name)
                events.append(
                    ConsentEvent(
                        profile_id=profile.pk,
                        action=ConsentEvent.Action.OPT_OUT
                        if value
                        else ConsentEvent.Action.OPT_IN,
                        channel=FLAG_CHANNELS[name] or "",
                        **origin_fields,
                    )
                )
        profile.updated_at = now
        to_update.append(profile)

    done = 0
    for chunk in _chunks(to_create):
        Profile.objects.bulk_create(chunk)
        done += len(chunk)
        if progress:
            progress("profiles", done, len(rows))
    for profile in to_create:
        for name in FLAG_COLUMNS:
            if getattr(profile, name):
                events.append(
                    ConsentEvent(
                        profile_id=profile.pk,
                        action=ConsentEvent.Action.OPT_OUT,
                        channel=FLAG_CHANNELS[name] or "",
                        **origin_fields,
                    )
                )
    if to_update and update_fields:
        Profile.objects.bulk_update(
            to_update, [*sorted(update_fields), "updated_at"], batch_size=1000
        )
        done += len(to_update)
        if progress:
            progress("profiles", done, len(rows))

    by_row = {id(row): profile for row, profile in _pair(rows, to_create, existing)}
    for chunk in _chunks(events):
        ConsentEvent.objects.bulk_create(chunk)
    result.consent_events = len(events)
    result.created = len(to_create)
    result.updated = len(to_update)
    result.subscriptions = _subscribe(rows, by_row, services, now)


def _pair(rows: list[Row], created: list[Profile], existing: dict[str, Profile]):
    new = iter(created)
    for row in rows:
        profile = existing.get(row.values.get("external_id") or "")
        yield row, profile if profile is not None else next(new)


def _subscribe(
    rows: list[Row], profiles: dict[int, Profile], services: dict[str, Service], now
) -> int:
    """Subscribe each row's profile to its services; return how many started.

    A subscription that already is `subscribed` is left alone; a pending or
    ended one becomes `subscribed`. Each start is a ledger row.
    """
    wanted = {
        (profiles[id(row)].pk, services[name].pk)
        for row in rows
        for name in row.services
    }
    if not wanted:
        return 0
    profile_ids = sorted({profile_id for profile_id, _ in wanted})
    current: dict[tuple[int, int], Subscription] = {}
    for chunk in _chunks(profile_ids):
        for subscription in Subscription.objects.filter(
            profile_id__in=chunk
        ).select_for_update():
            current[(subscription.profile_id, subscription.service_id)] = subscription

    to_create, to_update, events = [], [], []
    service_by_id = {service.pk: service for service in services.values()}
    for profile_id, service_id in sorted(wanted):
        subscription = current.get((profile_id, service_id))
        if subscription is not None and (
            subscription.status == Subscription.Status.SUBSCRIBED
        ):
            continue
        if subscription is None:
            to_create.append(
                Subscription(
                    profile_id=profile_id,
                    service_id=service_id,
                    status=Subscription.Status.SUBSCRIBED,
                    subscribed_at=now,
                    expires_at=_expiry(service_by_id[service_id], now),
                )
            )
        else:
            subscription.status = Subscription.Status.SUBSCRIBED
            subscription.subscribed_at = now
            subscription.unsubscribed_at = None
            subscription.expires_at = _expiry(service_by_id[service_id], now)
            subscription.updated_at = now
            to_update.append(subscription)
        events.append(
            ConsentEvent(
                profile_id=profile_id,
                service_id=service_id,
                channel=service_by_id[service_id].channel,
                action=ConsentEvent.Action.SUBSCRIBE,
                source=ConsentEvent.Source.IMPORT,
            )
        )

    for chunk in _chunks(to_create):
        Subscription.objects.bulk_create(chunk)
    if to_update:
        Subscription.objects.bulk_update(
            to_update,
            ["status", "subscribed_at", "unsubscribed_at", "expires_at", "updated_at"],
            batch_size=1000,
        )
    for chunk in _chunks(events):
        ConsentEvent.objects.bulk_create(chunk)
    return len(events)


def _expiry(service: Service, now):
    if service.validity_days:
        return now + timedelta(days=service.validity_days)
    return None
