"""Read and validate a quarantine CSV file before anything is written.

Columns (header row, any order): `address`, `channel`, `status`, and the
optional `reason`. The whole file is checked first; every bad line is
reported with its line number and field.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError

from consent.addresses import normalize_address
from delivery.quarantine.actions import SETTABLE_STATUSES, StatusRow
from delivery.quarantine.models import AddressChannel, Reason, Status

REQUIRED_COLUMNS = ("address", "channel", "status")
COLUMNS = (*REQUIRED_COLUMNS, "reason")
# Statuses that say why; an empty reason there means an operator's choice.
STATUSES_WITH_REASON = (Status.QUARANTINED, Status.DENYLISTED)


class FileProblem(Exception):
    """The file as a whole cannot be read: nothing of it is imported."""


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.field}: {self.message}"

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class ParsedFile:
    rows: list[StatusRow]
    errors: list[RowError]
    lines: int


def read_status_file(path: str) -> ParsedFile:
    """Parse and validate every row; raise FileProblem for the file itself."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise FileProblem("no such file") from None
    except OSError as exc:
        raise FileProblem(exc.strerror or "cannot be read") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileProblem(
            f"line {line}: the file is not UTF-8 text; save it as UTF-8"
        ) from None
    if not text.strip():
        raise FileProblem("the file is empty; it needs a header row")

    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader)]
    except csv.Error as exc:
        raise FileProblem(f"line 1: {exc}") from None
    _check_header(header)
    position = {name: header.index(name) for name in header}

    rows, errors = [], []
    seen: dict[tuple[str, str], tuple[int, StatusRow]] = {}
    line = reader.line_num
    while True:
        start = line + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            errors.append(RowError(start, "row", str(exc)))
            break
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(header):
            errors.append(
                RowError(
                    start,
                    "row",
                    f"{len(values)} values for {len(header)} columns; "
                    "quote values that hold a comma",
                )
            )
            continue
        cells = {
            name: (values[index].strip() if index < len(values) else "")
            for name, index in position.items()
        }
        row, row_errors = _validate(cells, start)
        if row_errors:
            errors.extend(row_errors)
            continue
        key = (row.channel, row.address)
        if key in seen:
            first_line, first = seen[key]
            if first != row:
                errors.append(
                    RowError(
                        start,
                        "address",
                        f"also on line {first_line} with another status or reason",
                    )
                )
            continue
        seen[key] = (start, row)
        rows.append(row)
    return ParsedFile(rows=rows, errors=errors, lines=line)


def _check_header(header: list[str]) -> None:
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise FileProblem(f"line 1: column {', '.join(duplicated)} appears twice")
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise FileProblem(
            f"line 1: unknown column {', '.join(unknown)}; the columns are "
            f"{', '.join(COLUMNS)}"
        )
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise FileProblem(f"line 1: missing column {', '.join(missing)}")


def _shown(value: str) -> str:
    return repr(value) if value else "empty"


def _validate(cells: dict[str, str], line: int) -> tuple[StatusRow | None, list]:
    errors = []
    channel = cells["channel"].lower()
    if channel not in AddressChannel.values:
        errors.append(
            RowError(
                line,
                "channel",
                f"{_shown(cells['channel'])} is not one of "
                f"{', '.join(AddressChannel.values)}",
            )
        )

    address = ""
    if not cells["address"]:
        errors.append(RowError(line, "address", "empty"))
    elif channel in AddressChannel.values:
        try:
            address = normalize_address(channel, cells["address"])
        except ValidationError as exc:
            errors.append(RowError(line, "address", " ".join(exc.messages)))

    status = cells["status"].lower()
    if status == Status.WITH_ERRORS:
        errors.append(
            RowError(
                line,
                "status",
                "with_errors is reached by counting errors and cannot be "
                "imported; use valid or quarantined",
            )
        )
    elif status not in SETTABLE_STATUSES:
        errors.append(
            RowError(
                line,
                "status",
                f"{_shown(cells['status'])} is not one of "
                f"{', '.join(SETTABLE_STATUSES)}",
            )
        )

    reason = cells.get("reason", "").lower()
    if reason and reason not in Reason.values:
        errors.append(
            RowError(
                line,
                "reason",
                f"{cells['reason']!r} is not one of {', '.join(Reason.values)}",
            )
        )

    if errors:
        return None, errors
    if status in STATUSES_WITH_REASON:
        reason = reason or Reason.MANUAL
    else:
        # valid and allowlisted carry no reason; one given is dropped.
        reason = ""
    return StatusRow(address=address, channel=channel, status=status, reason=reason), []
