"""Import profiles, their consent and subscriptions from a CSV file.

The whole file is read and validated before anything is written; the write
is one transaction of bulk statements, so a 100,000-row file costs a few
dozen queries, not one per row. Every consent flag an import changes, and
every subscription it starts, is written to the ledger with source
`import`.
"""

import csv
import functools
import importlib
import io
import logging
import multiprocessing
import operator
import os
import uuid
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import TextField
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

# Rows checked and written together; each chunk is a few statements.
CHUNK_SIZE = 2000
UPDATE_BATCH_SIZE = 1000
MAX_CELL = 10_000
# Files with at least this many lines are checked by worker processes.
PARALLEL_MIN_ROWS = 20_000
MAX_WORKERS = 8
WORKER_NICENESS = 10

TEXT_COLUMNS = {"external_id": 100, "first_name": 150, "last_name": 150}
ADDRESS_COLUMNS = ("email", "mobile_phone")
# Each consent flag column (named like its Profile field) and its channel;
# None is "no longer contact".
FLAG_CHANNELS = {"no_longer_contact": None} | {
    field: channel for channel, field in OPT_OUT_FIELDS.items()
}
FLAG_COLUMNS = tuple(FLAG_CHANNELS)
# Profile columns a row may change.
UPDATABLE_COLUMNS = (*TEXT_COLUMNS, *ADDRESS_COLUMNS, "language", *FLAG_COLUMNS)
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


class Row(NamedTuple):
    """A checked line: the profile columns it sets, its consent flags and
    the services it subscribes to.

    A tuple because rows come back from the checking processes by the
    hundred thousand: one unpickles in less than half the time of an
    object with attributes.
    """

    line: int
    values: dict
    flags: dict
    services: tuple[str, ...] = ()


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


def import_profiles(
    path: Path,
    *,
    skip_invalid: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Check every row of the file and write it in one transaction.

    Rows are checked in chunks, by worker processes for a large file, and
    each checked chunk is written while the next ones are being checked.
    When any row is bad, ImportRejected lists every problem and the
    transaction is rolled back, so nothing is kept; unless skip_invalid is
    set: then the good rows are written and the bad ones reported in the
    result.
    """
    services = {service.name: service for service in Service.objects.all()}
    text = _decode(path.read_bytes())
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _read_header(reader)

    errors: list[RowError] = []
    # Lines after the header: the total progress counts towards.
    total = max(text.rstrip("\n").count("\n"), 1)
    checked = 0
    with transaction.atomic():
        store = _store(timezone.now())
        store.start()
        writer = _Writer(services, store)
        for rows, row_errors in _checked_chunks(
            header, text, reader, frozenset(services), estimated_rows=total
        ):
            errors.extend(row_errors)
            checked += len(rows) + len({error.line for error in row_errors})
            if progress:
                progress("rows", min(checked, total - 1), total)
            if errors and not skip_invalid:
                # Keep checking, to list every bad line; the transaction
                # is rolled back below.
                continue
            errors.extend(writer.write(rows))
        if errors and not skip_invalid:
            raise ImportRejected(errors)
        store.finish()
    if progress:
        progress("rows", total, total)

    result = writer.result
    result.rows += len({error.line for error in errors})
    result.skipped = errors
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


def _shown(name: str) -> str:
    """A column name as an operator can read it in a one-line message."""
    if name.isprintable() and len(name) <= 60:
        return name
    return repr(name[:60])


def _read_header(reader) -> list[str]:
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
                ", ".join(_shown(name) for name in unknown),
                "unknown column; known columns are " + ", ".join(COLUMNS),
            )
        )
    repeated = {name for name in header if header.count(name) > 1}
    if repeated:
        problems.append(
            RowError(
                1,
                ", ".join(_shown(name) for name in sorted(repeated)),
                "column repeated",
            )
        )
    if not any(name in header for name in ADDRESS_COLUMNS):
        problems.append(
            RowError(1, "email/mobile_phone", "the file needs an address column")
        )
    if problems:
        raise ImportRejected(problems)
    return header


def _checked_chunks(
    header: list[str],
    text: str,
    reader,
    service_names: Collection[str],
    *,
    estimated_rows: int,
) -> Iterator[tuple[list[Row], list[RowError]]]:
    """The file's good rows and its problems, chunk by chunk, in file order.

    An external id may appear once in a file; a CSV error ends the file and
    is reported last.
    """
    seen_ids: dict[str, int] = {}
    unreadable: list[RowError] = []
    chunks = _text_chunks(text) or _record_chunks(reader, unreadable)
    for checked, checked_errors, cut_short in _validate_chunks(
        header, chunks, service_names, estimated_rows
    ):
        by_line: dict[int, list[RowError]] = {}
        for error in checked_errors:
            by_line.setdefault(error.line, []).append(error)
        rows, errors = [], []
        for row in checked:
            row_errors = by_line.get(row.line, [])
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
        yield rows, errors
        if cut_short:
            unreadable.append(cut_short)
            break
    if unreadable:
        yield [], unreadable


# A chunk to check: ("records", [(line, cells), ...]) read here, or
# ("lines", first line number, text) for the checker to read itself.
Chunk = tuple


def _text_chunks(text: str) -> Iterator[Chunk] | None:
    """The lines after the header, CHUNK_SIZE at a time, as text.

    Without quotes or lone carriage returns, every record of the file is
    one line, so the file can be cut anywhere between lines and each piece
    read on its own, with the same cells and line numbers: the reading
    then happens in the worker processes too. None for any other file.
    """
    if '"' in text:
        return None
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text:
            return None
    lines = text.split("\n")[1:]

    def chunks() -> Iterator[Chunk]:
        for start in range(0, len(lines), CHUNK_SIZE):
            piece = "\n".join(lines[start : start + CHUNK_SIZE])
            yield ("lines", start + 2, piece)

    return chunks()


def _record_chunks(reader, unreadable: list[RowError]) -> Iterator[Chunk]:
    chunk = []
    for record in _records(reader, unreadable):
        chunk.append(record)
        if len(chunk) >= CHUNK_SIZE:
            yield ("records", chunk)
            chunk = []
    if chunk:
        yield ("records", chunk)


def _records(reader, unreadable: list[RowError]) -> Iterator[tuple[int, list[str]]]:
    """(line, cells) of each non-blank record; a CSV error ends the file."""
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            unreadable.append(
                RowError(reader.line_num, "-", f"not readable as CSV: {exc}")
            )
            return
        if any(cell.strip() for cell in cells):
            yield reader.line_num, cells


# A checked chunk: every line as a Row (bad ones too, for their external
# id), the problems found, and the CSV error that cut the chunk short.
Checked = tuple[list[Row], list[RowError], RowError | None]


def _check_chunk(
    chunk: Chunk, header: list[str], service_names: Collection[str]
) -> Checked:
    """Check a chunk's records; with the CSV error that cut it short, if
    any (the records after it are not read)."""
    if chunk[0] == "records":
        records, unreadable = chunk[1], []
    else:
        _kind, first_line, piece = chunk
        unreadable = []
        reader = csv.reader(io.StringIO(piece, newline=""))
        records = (
            (first_line + line - 1, cells)
            for line, cells in _records(reader, unreadable)
        )
    rows, errors = [], []
    for line, cells in records:
        row, row_errors = _validate(line, header, cells, service_names)
        rows.append(row)
        errors.extend(row_errors)
    if unreadable and chunk[0] == "lines":
        error = unreadable[0]
        cut_short = RowError(chunk[1] + error.line - 1, error.field, error.message)
        return rows, errors, cut_short
    return rows, errors, None


def _validate_chunks(
    header: list[str],
    chunks: Iterator[Chunk],
    service_names: Collection[str],
    estimated_rows: int,
) -> Iterator[Checked]:
    """Check each chunk, in order.

    Checking addresses (email-validator and phonenumbers, pure Python) is
    most of an import's work, 30 to 50 µs a row; a large file is checked
    by one worker process per core, each row exactly as the serial path
    checks it, while this process writes the chunks already checked.
    """
    workers = _worker_count(estimated_rows)
    if workers < 2:
        for chunk in chunks:
            yield _check_chunk(chunk, header, service_names)
        return

    context = multiprocessing.get_context("fork")
    with context.Pool(
        workers, initializer=_start_worker, initargs=(header, service_names)
    ) as pool:
        yield from pool.imap(_validate_chunk, chunks)


def _worker_count(estimated_rows: int) -> int:
    if estimated_rows < PARALLEL_MIN_ROWS:
        return 1
    # Workers start as copies of this process (settings, translations
    # loaded); without fork there is no cheap way to start them.
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return min(os.cpu_count() or 1, MAX_WORKERS)


# What a worker process checks against, set once when it starts.
_worker_header: list[str] = []
_worker_services: Collection[str] = ()


def _start_worker(header: list[str], service_names: Collection[str]) -> None:
    global _worker_header, _worker_services
    _worker_header = header
    _worker_services = service_names
    _remember_email_domains()
    # Checking runs ahead of writing; the writing (this process's parent
    # and its database server) is the longer path, so it goes first when
    # both want a core.
    os.nice(WORKER_NICENESS)


def _remember_email_domains() -> None:
    """Check each e-mail domain once per worker process.

    email-validator spends about a third of its time on the part after the
    "@", and a file holds few distinct domains. That check is a function of
    its arguments alone, so remembering its answers changes no result (an
    invalid domain raises, and is checked again each time). Only worker
    processes, which do nothing else and end with the import, do this.
    """
    module = importlib.import_module("email_validator.validate_email")
    check = getattr(module, "validate_email_domain_name", None)
    if check is not None and not hasattr(check, "cache_info"):
        module.validate_email_domain_name = functools.lru_cache(maxsize=4096)(check)


def _validate_chunk(chunk: Chunk) -> Checked:
    return _check_chunk(chunk, _worker_header, _worker_services)


def _validate(
    line: int, header: list[str], cells: list[str], services: Collection[str]
) -> tuple[Row, list[RowError]]:
    values: dict[str, str] = {}
    flags: dict[str, bool] = {}
    subscribed: tuple[str, ...] = ()
    errors = []
    if len(cells) != len(header):
        errors.append(
            RowError(
                line, "-", f"{len(cells)} cells where the header has {len(header)}"
            )
        )
        return Row(line, values, flags), errors

    for name, raw in zip(header, cells, strict=True):
        value = raw.strip()
        if len(value) > MAX_CELL:
            errors.append(RowError(line, name, f"longer than {MAX_CELL} characters"))
            continue
        if "\x00" in value:
            # PostgreSQL text cannot hold it; refuse it before any write.
            errors.append(RowError(line, name, "contains a NUL character"))
            continue
        try:
            if name in TEXT_COLUMNS:
                if len(value) > TEXT_COLUMNS[name]:
                    raise ValueError(f"at most {TEXT_COLUMNS[name]} characters")
                values[name] = value
            elif name == "email":
                values[name] = normalize_email(value) if value else ""
            elif name == "mobile_phone":
                values[name] = normalize_phone(value) if value else ""
            elif name == "language":
                if value:
                    key = value.lower().replace("_", "-")
                    if key not in LANGUAGES:
                        raise ValueError(
                            f"{value[:20]!r} is not a language we offer "
                            f"({', '.join(Language.values)})"
                        )
                    values[name] = LANGUAGES[key]
            elif name in FLAG_COLUMNS:
                flags[name] = _parse_bool(value)
            elif name == "services":
                names = [item.strip() for item in value.split(";") if item.strip()]
                missing = [item for item in names if item not in services]
                if missing:
                    raise ValueError(f"no service named {', '.join(missing)[:200]}")
                subscribed = tuple(dict.fromkeys(names))
        except ValidationError as exc:
            errors.append(RowError(line, name, " ".join(exc.messages)))
        except ValueError as exc:
            errors.append(RowError(line, name, str(exc)))

    if not errors and not values.get("external_id"):
        if not (values.get("email") or values.get("mobile_phone")):
            errors.append(
                RowError(line, "email/mobile_phone", "a new profile needs an address")
            )
    return Row(line, values, flags, subscribed), errors


def _chunks(items: list, size: int = CHUNK_SIZE) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# A ledger row as the import builds it: profile id, action, channel, service
# id. The rest (source "import", no operator) is the same for every row.
Event = tuple[int, str, str, int | None]
EVENT_FIELDS = ("profile_id", "action", "channel", "service_id", "source")
SUBSCRIPTION_FIELDS = (
    "profile_id",
    "service_id",
    "status",
    "subscribed_at",
    "expires_at",
)


class _Writer:
    """Write checked rows chunk by chunk, inside the caller's transaction."""

    def __init__(
        self,
        services: dict[str, Service],
        store: "_Store",
    ):
        self.services = services
        self.service_by_id = {service.pk: service for service in services.values()}
        self.store = store
        self.result = ImportResult()

    def write(self, rows: list[Row]) -> list[RowError]:
        """Write the rows; return the problems only the database shows.

        A row whose external id names no profile creates one, which needs
        an address; such a row is not written.
        """
        if not rows:
            return []
        store = self.store
        existing = store.lock_existing(
            [row.values["external_id"] for row in rows if row.values.get("external_id")]
        )
        problems = [
            RowError(row.line, "email/mobile_phone", "a new profile needs an address")
            for row in rows
            if (row.values.get("external_id") or "") not in existing
            and not (row.values.get("email") or row.values.get("mobile_phone"))
        ]
        if problems:
            refused = {problem.line for problem in problems}
            rows = [row for row in rows if row.line not in refused]

        events: list[Event] = []
        to_create: list[Row] = []
        # (profile id, the columns the row changes) for rows naming a profile.
        to_update: list[tuple[int, dict]] = []
        matched = 0
        for row in rows:
            current = existing.get(row.values.get("external_id") or "")
            if current is None:
                to_create.append(row)
                continue
            matched += 1
            changes = {
                name: value
                for name, value in row.values.items()
                # An empty address cell keeps the address the profile has.
                if (value or name not in ADDRESS_COLUMNS) and current[name] != value
            }
            for name, value in row.flags.items():
                if current[name] != value:
                    changes[name] = value
                    events.append(
                        (
                            current["pk"],
                            _flag_action(value),
                            FLAG_CHANNELS[name] or "",
                            None,
                        )
                    )
            # A row that changes nothing leaves the profile as it is,
            # updated_at included.
            if changes:
                to_update.append((current["pk"], changes))

        created_ids = store.create_profiles(to_create)
        for row, profile_id in zip(to_create, created_ids, strict=True):
            events.extend(
                (
                    profile_id,
                    ConsentEvent.Action.OPT_OUT,
                    FLAG_CHANNELS[name] or "",
                    None,
                )
                for name, value in row.flags.items()
                if value
            )
        if to_update:
            store.update_profiles(to_update, existing)
        flag_events = len(events)

        new_ids = iter(created_ids)
        profile_ids = [
            existing[external_id]["pk"]
            if (external_id := row.values.get("external_id") or "") in existing
            else next(new_ids)
            for row in rows
        ]
        events.extend(self._subscribe(rows, profile_ids, set(created_ids)))
        store.insert_events(events)

        result = self.result
        result.rows += len(rows)
        result.created += len(to_create)
        result.updated += matched
        result.consent_events += flag_events
        result.subscriptions += len(events) - flag_events
        return problems

    def _subscribe(
        self, rows: list[Row], profile_ids: list[int], new_profiles: set[int]
    ) -> list[Event]:
        """Subscribe each row's profile to its services; return ledger rows.

        A subscription that already is `subscribed` is left alone; a pending
        or ended one becomes `subscribed`. Profiles created by this import
        have no subscriptions to look up.
        """
        services, service_by_id = self.services, self.service_by_id
        wanted = sorted(
            {
                (profile_id, services[name].pk)
                for row, profile_id in zip(rows, profile_ids, strict=True)
                for name in row.services
            }
        )
        if not wanted:
            return []
        current = self.store.lock_subscriptions(
            sorted({profile_id for profile_id, _ in wanted} - new_profiles)
        )

        to_create: list[tuple[int, int]] = []
        # Subscriptions to restart, by service: they all get the same values.
        to_restart: dict[int, list[int]] = {}
        events: list[Event] = []
        for profile_id, service_id in wanted:
            found = current.get((profile_id, service_id))
            if found is None:
                to_create.append((profile_id, service_id))
            elif found[1] == Subscription.Status.SUBSCRIBED:
                continue
            else:
                to_restart.setdefault(service_id, []).append(found[0])
            events.append(
                (
                    profile_id,
                    ConsentEvent.Action.SUBSCRIBE,
                    service_by_id[service_id].channel,
                    service_id,
                )
            )

        now = self.store.now
        self.store.create_subscriptions(to_create, service_by_id)
        for service_id, subscription_ids in to_restart.items():
            Subscription.objects.filter(pk__in=subscription_ids).update(
                status=Subscription.Status.SUBSCRIBED,
                subscribed_at=now,
                unsubscribed_at=None,
                expires_at=_expiry(service_by_id[service_id], now),
                updated_at=now,
            )
        return events


def _flag_action(opted_out: bool) -> str:
    return ConsentEvent.Action.OPT_OUT if opted_out else ConsentEvent.Action.OPT_IN


def _expiry(service: Service, now):
    if service.validity_days:
        return now + timedelta(days=service.validity_days)
    return None


def _store(now) -> "_Store":
    if connection.vendor == "postgresql":
        return _CopyStore(now)
    return _Store(now)


class _Store:
    """Bulk reads and writes through the ORM: any database Django supports."""

    def __init__(self, now):
        self.now = now

    def start(self) -> None:
        """Prepare the transaction for the writes."""

    def finish(self) -> None:
        """Leave the transaction as start() found it."""

    def lock_existing(self, external_ids: list[str]) -> dict[str, dict]:
        """Lock the profiles these external ids name; read what an update
        compares, keyed by external id."""
        existing = {}
        if external_ids:
            for values in (
                Profile.objects.filter(external_id__in=external_ids)
                .select_for_update(no_key=True)
                .values("pk", "external_id", *UPDATABLE_COLUMNS)
            ):
                existing[values["external_id"]] = values
        return existing

    def lock_subscriptions(
        self, profile_ids: list[int]
    ) -> dict[tuple[int, int], tuple[int, str]]:
        """(profile id, service id) -> (subscription id, status), locked."""
        if not profile_ids:
            return {}
        return {
            (profile_id, service_id): (pk, status)
            for pk, profile_id, service_id, status in (
                Subscription.objects.filter(profile_id__in=profile_ids)
                .select_for_update()
                .values_list("pk", "profile_id", "service_id", "status")
            )
        }

    def create_profiles(self, rows: list[Row]) -> list[int]:
        """Insert a profile per row; return their ids in row order."""
        profiles = []
        for row in rows:
            profile = Profile(**row.values, **row.flags)
            if not profile.external_id:
                profile.external_id = None
            profiles.append(profile)
        Profile.objects.bulk_create(profiles)
        return [profile.pk for profile in profiles]

    def update_profiles(
        self, updates: list[tuple[int, dict]], existing: dict[str, dict]
    ) -> None:
        """Set each profile's changed columns; the rest keep their value."""
        current = {values["pk"]: values for values in existing.values()}
        columns = sorted({name for _pk, changes in updates for name in changes})
        profiles = [
            Profile(
                pk=pk,
                updated_at=self.now,
                **{name: changes.get(name, current[pk][name]) for name in columns},
            )
            for pk, changes in updates
        ]
        Profile.objects.bulk_update(
            profiles, [*columns, "updated_at"], batch_size=UPDATE_BATCH_SIZE
        )

    def insert_events(self, events: list[Event]) -> None:
        ConsentEvent.objects.bulk_create(
            ConsentEvent(
                profile_id=profile_id,
                action=action,
                channel=channel,
                service_id=service_id,
                source=ConsentEvent.Source.IMPORT,
            )
            for profile_id, action, channel, service_id in events
        )

    def create_subscriptions(
        self, pairs: list[tuple[int, int]], services: dict[int, Service]
    ) -> None:
        Subscription.objects.bulk_create(
            Subscription(
                profile_id=profile_id,
                service_id=service_id,
                status=Subscription.Status.SUBSCRIBED,
                subscribed_at=self.now,
                expires_at=_expiry(services[service_id], self.now),
            )
            for profile_id, service_id in pairs
        )


# TODO: this process still builds and encodes every row it copies, about
# 3.3 s of CPU per 100,000 rows on the bench's 2-core machine, where the
# checking processes and the database server need the same cores. Workers
# handing over rows ready for COPY would free most of it (the import runs
# at 0.78 times the bare SQL writing the same rows there, whose 13,000
# rows/s is the ceiling). It can go once that is built and measured.
class _CopyStore(_Store):
    """The same writes with PostgreSQL's COPY, several times faster.

    Profile ids are taken from the table's sequence first, so ledger and
    subscription rows name them without reading anything back. Columns the
    import does not set get the model's default, computed as Django would:
    COPY bypasses the ORM's INSERT, not the model.
    """

    def __init__(self, now):
        super().__init__(now)
        self._plans: dict[type, _CopyPlan] = {}

    def start(self) -> None:
        # Foreign keys are checked when each statement ends rather than all
        # at commit: the same checks, but made while worker processes check
        # the next rows, instead of alone at the end (about a quarter of the
        # database's work). Every row an import writes names rows it wrote
        # before or that exist, so no statement needs them deferred.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def finish(self) -> None:
        # Django declares its foreign keys DEFERRABLE INITIALLY DEFERRED.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")

    def _plan(self, model, **options) -> "_CopyPlan":
        """One plan per table for the whole import, not one per chunk."""
        if model not in self._plans:
            self._plans[model] = _CopyPlan(model, self.now, **options)
        return self._plans[model]

    def lock_existing(self, external_ids: list[str]) -> dict[str, dict]:
        if not external_ids:
            return {}
        # One array parameter instead of an IN list of thousands.
        columns = ["id", "external_id", *UPDATABLE_COLUMNS]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_quote(name) for name in columns)} "
                f"FROM {_quote(Profile._meta.db_table)} "
                "WHERE external_id = ANY(%s) FOR NO KEY UPDATE",
                [external_ids],
            )
            names = ["pk", *columns[1:]]
            return {
                values[1]: dict(zip(names, values, strict=True))
                for values in cursor.fetchall()
            }

    def lock_subscriptions(
        self, profile_ids: list[int]
    ) -> dict[tuple[int, int], tuple[int, str]]:
        if not profile_ids:
            return {}
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, profile_id, service_id, status "
                f"FROM {_quote(Subscription._meta.db_table)} "
                "WHERE profile_id = ANY(%s) FOR UPDATE",
                [profile_ids],
            )
            return {
                (profile_id, service_id): (pk, status)
                for pk, profile_id, service_id, status in cursor.fetchall()
            }

    def create_profiles(self, rows: list[Row]) -> list[int]:
        if not rows:
            return []
        ids = self._allocate_ids(Profile, len(rows))
        given = ("id", *UPDATABLE_COLUMNS)
        plan = self._plan(Profile, given=given, with_pk=True)
        with plan.copy() as copy:
            for row, profile_id in zip(rows, ids, strict=True):
                values = row.values | row.flags
                values["id"] = profile_id
                if not values.get("external_id"):
                    values["external_id"] = None
                copy.write_row(plan.row(values))
        return ids

    def update_profiles(
        self, updates: list[tuple[int, dict]], existing: dict[str, dict]
    ) -> None:
        # One UPDATE ... FROM a temporary table of the new values, where
        # NULL means "keep": bulk_update's CASE per row is far slower.
        columns = sorted({name for _pk, changes in updates for name in changes})
        definitions = ", ".join(
            f"{_quote(name)} {Profile._meta.get_field(name).db_type(connection)}"
            for name in columns
        )
        names = ", ".join(_quote(name) for name in columns)
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE import_profile_changes "
                f"(id bigint PRIMARY KEY, {definitions}) ON COMMIT DROP"
            )
            with (
                connection.wrap_database_errors,
                cursor.copy(
                    f"COPY import_profile_changes (id, {names}) FROM STDIN"
                ) as copy,
            ):
                for pk, changes in updates:
                    copy.write_row((pk, *(changes.get(name) for name in columns)))
            assignments = ", ".join(
                f"{_quote(name)} = COALESCE(c.{_quote(name)}, p.{_quote(name)})"
                for name in columns
            )
            cursor.execute(
                f"UPDATE {_quote(Profile._meta.db_table)} AS p "
                f"SET {assignments}, updated_at = %s "
                "FROM import_profile_changes AS c WHERE p.id = c.id",
                [self.now],
            )
            cursor.execute("DROP TABLE import_profile_changes")

    def insert_events(self, events: list[Event]) -> None:
        if not events:
            return
        plan = self._plan(ConsentEvent, given=EVENT_FIELDS)
        source = ConsentEvent.Source.IMPORT
        with plan.copy() as copy:
            for profile_id, action, channel, service_id in events:
                copy.write_row(
                    plan.row(
                        {
                            "profile_id": profile_id,
                            "action": action,
                            "channel": channel,
                            "service_id": service_id,
                            "source": source,
                        }
                    )
                )

    def create_subscriptions(
        self, pairs: list[tuple[int, int]], services: dict[int, Service]
    ) -> None:
        if not pairs:
            return
        plan = self._plan(Subscription, given=SUBSCRIPTION_FIELDS)
        expiry = {pk: _expiry(service, self.now) for pk, service in services.items()}
        status = Subscription.Status.SUBSCRIBED
        with plan.copy() as copy:
            for profile_id, service_id in pairs:
                copy.write_row(
                    plan.row(
                        {
                            "profile_id": profile_id,
                            "service_id": service_id,
                            "status": status,
                            "subscribed_at": self.now,
                            "expires_at": expiry[service_id],
                        }
                    )
                )

    @staticmethod
    def _allocate_ids(model, count: int) -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) "
                "FROM generate_series(1, %s)",
                [model._meta.db_table, model._meta.pk.column, count],
            )
            return [pk for (pk,) in cursor.fetchall()]


class _CopyPlan:
    """A COPY into a model's table: its columns and how to fill each row.

    Rows give some fields by attname (at most those named in `given`);
    every other column gets what Django would store: now() for auto_now
    fields, the default (called per row when callable), or the empty value.
    The primary key is left to the database unless `with_pk`. Rows travel
    in PostgreSQL's binary format, several times cheaper to encode than
    text, whenever every column that may hold a value has a type it is
    sure to encode.
    """

    def __init__(self, model, now, *, given: tuple[str, ...], with_pk: bool = False):
        self.table = model._meta.db_table
        self.columns, self.attnames, self.types = [], [], []
        self.constants: dict[str, object] = {}
        self.callables: list[tuple[str, Callable[[], object]]] = []
        database = connections[DEFAULT_DB_ALIAS]
        binary = True
        for model_field in model._meta.concrete_fields:
            if model_field.primary_key and not with_pk:
                continue
            attname = model_field.attname
            self.columns.append(model_field.column)
            self.attnames.append(attname)
            if getattr(model_field, "auto_now", False) or getattr(
                model_field, "auto_now_add", False
            ):
                self.constants[attname] = now
            elif model_field.default is uuid.uuid4:
                # Random bytes fetched for many rows at once: one system call
                # instead of one per row, the same uuid4 values.
                self.callables.append((attname, _uuid4_source()))
            elif model_field.has_default() and callable(model_field.default):
                self.callables.append((attname, _prepared_default(model_field)))
            elif not model_field.primary_key:
                self.constants[attname] = model_field.get_db_prep_save(
                    model_field.get_default(), database
                )
            oid = _binary_type(model_field, database)
            if oid is None:
                # A column that only ever holds NULL needs no encoding.
                if attname in given or self.constants.get(attname, ...) is not None:
                    binary = False
                oid = _binary_type(TextField(), database)
            self.types.append(oid)
        if not binary:
            self.types = []
        self._pick = operator.itemgetter(*self.attnames)

    def row(self, given: dict) -> tuple:
        values = self.constants | given
        for attname, make in self.callables:
            if attname not in given:
                values[attname] = make()
        return self._pick(values)

    @contextmanager
    def copy(self) -> Iterator:
        names = ", ".join(_quote(column) for column in self.columns)
        statement = f"COPY {_quote(self.table)} ({names}) FROM STDIN"
        if self.types:
            statement += " (FORMAT BINARY)"
        # Errors keep Django's types (OperationalError on a lost connection),
        # as an INSERT through the ORM would raise.
        with (
            connection.wrap_database_errors,
            connection.cursor() as cursor,
            cursor.copy(statement) as copy,
        ):
            if self.types:
                copy.set_types(self.types)
            yield copy


# Column types whose binary encoding takes the Python values Django stores
# in them (int, str, bool, UUID, aware datetime).
BINARY_SAFE_TYPES = {"int2", "int4", "int8", "bool", "text", "varchar", "uuid"}
BINARY_SAFE_TYPES |= {"timestamptz"}


def _binary_type(model_field, database) -> int | None:
    """The type oid to encode the field's values with, if binary is safe."""
    declared = (model_field.db_type(database) or "").split("(")[0].strip()
    database.ensure_connection()
    info = database.connection.adapters.types.get(declared)
    if info is None or info.name not in BINARY_SAFE_TYPES:
        return None
    return info.oid


def _uuid4_source(batch: int = 4096) -> Callable[[], uuid.UUID]:
    """A function returning what uuid.uuid4() would, drawing the random
    bytes `batch` values at a time."""
    pending: list[uuid.UUID] = []

    def next_uuid() -> uuid.UUID:
        if not pending:
            raw = os.urandom(16 * batch)
            pending.extend(
                uuid.UUID(bytes=raw[start : start + 16], version=4)
                for start in range(0, len(raw), 16)
            )
        return pending.pop()

    return next_uuid


def _prepared_default(field) -> Callable[[], object]:
    database = connections[DEFAULT_DB_ALIAS]
    return lambda: field.get_db_prep_save(field.default(), database)


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)
