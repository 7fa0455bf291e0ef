"""Read bounce messages and say which recipients failed, how and why.

A message is read with Python's email package. When it carries an RFC 3464
delivery status part (message/delivery-status, or the RFC 6533 global form),
each per-recipient block gives the recipient, the action, the status code
and the diagnostic; those are authoritative. Otherwise flufl.bounce, which
knows many non-standard formats (Exim, qmail, Yahoo, old Postfix and
Exchange...), finds the failed recipients, and the paragraph of the report
that names each one is its diagnostic. classify.py turns both into a kind
and a reason.

A report of success (Action: delivered, relayed or expanded), an auto-reply
and an ordinary message are not bounces. A file that is empty, has no mail
headers, or whose MIME structure is cut short is unreadable: its content
cannot be trusted, so it is reported and changes nothing.
"""

import base64
import binascii
import email
import hashlib
import logging
import mailbox
import quopri
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email import errors as email_errors
from email.header import Header, decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

import flufl.bounce

from delivery.quarantine.classify import classify

logger = logging.getLogger(__name__)

DSN_TYPES = ("message/delivery-status", "message/global-delivery-status")
SUCCESS_ACTIONS = ("delivered", "relayed", "expanded")
# Parts that hold the returned original message, not the report.
ORIGINAL_TYPES = ("message/rfc822", "text/rfc822-headers", "message/global")
DAEMON_SENDERS = ("mailer-daemon", "mailerdaemon", "postmaster", "mail-daemon")
MAX_DIAGNOSTIC_CHARS = 2000

_STRUCTURE_DEFECTS = (
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.CloseBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
    email_errors.MissingHeaderBodySeparatorDefect,
)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[- ]?(reply|response)|auto:|out of (the )?office|"
    r"abwesenheitsnotiz|r[ée]ponse automatique|respuesta autom[aá]tica|"
    r"resposta autom[aá]tica|vacation)",
    re.IGNORECASE,
)
_BLOCK_SEPARATOR = re.compile(r"\r?\n[ \t]*\r?\n")
_EMAIL = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+\.[^\s<>()\[\]\"',;:]+")


class UnreadableMessage(Exception):
    """The bytes are not a mail message whose content can be trusted."""


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    kind: str
    reason: str
    status: str
    diagnostic: str

    def as_dict(self) -> dict:
        return {
            "address": self.address,
            "kind": self.kind,
            "reason": self.reason,
            "status": self.status,
            "diagnostic": self.diagnostic,
        }


@dataclass(frozen=True)
class BounceReport:
    bounce: bool
    recipients: tuple[FailedRecipient, ...]
    # What the message is, for the operator: "bounce", "delivery success",
    # "auto-reply" or "not a bounce".
    verdict: str
    message_id: str
    occurred_at: datetime | None


@dataclass(frozen=True)
class SourcedMessage:
    """One message of an import, or the reason its source gave none."""

    source: str
    data: bytes | None
    error: str = ""


def iter_messages(paths: Iterable[str]) -> Iterator[SourcedMessage]:
    """Every message in the given .eml files, mbox files and maildirs.

    A directory that is not a maildir is read file by file. A source that
    cannot be opened yields one SourcedMessage with an error, and the
    import goes on.
    """
    for name in paths:
        path = Path(name)
        if path.is_dir():
            if (path / "cur").is_dir() or (path / "new").is_dir():
                yield from _maildir_messages(path)
            else:
                for child in sorted(path.iterdir()):
                    if child.is_file() and not child.name.startswith("."):
                        yield from _file_messages(child)
        elif path.exists():
            yield from _file_messages(path)
        else:
            yield SourcedMessage(str(path), None, "no such file or directory")


def _maildir_messages(path: Path) -> Iterator[SourcedMessage]:
    for folder in ("new", "cur"):
        directory = path / folder
        if not directory.is_dir():
            continue
        for child in sorted(directory.iterdir()):
            if child.is_file() and not child.name.startswith("."):
                yield _read_one(child)


def _read_one(path: Path) -> SourcedMessage:
    try:
        return SourcedMessage(str(path), path.read_bytes())
    except OSError as exc:
        return SourcedMessage(str(path), None, exc.strerror or "cannot be read")


def _file_messages(path: Path) -> Iterator[SourcedMessage]:
    try:
        with path.open("rb") as handle:
            head = handle.read(5)
    except OSError as exc:
        yield SourcedMessage(str(path), None, exc.strerror or "cannot be read")
        return
    if head != b"From " or path.suffix.lower() == ".eml":
        one = _read_one(path)
        if one.data is not None and head == b"From ":
            # An .eml saved with its mbox separator line: drop that line.
            one = SourcedMessage(one.source, one.data.split(b"\n", 1)[-1])
        yield one
        return
    try:
        box = mailbox.mbox(str(path), factory=None, create=False)
        keys = list(box.iterkeys())
    except (OSError, mailbox.Error) as exc:
        yield SourcedMessage(str(path), None, f"not a readable mbox file: {exc}")
        return
    try:
        for number, key in enumerate(keys, start=1):
            yield SourcedMessage(f"{path}#{number}", box.get_bytes(key))
    finally:
        box.close()


def read_report(data: bytes) -> BounceReport:
    """Say whether a message is a bounce and classify its failed recipients.

    Raise UnreadableMessage when the message cannot be trusted.
    """
    if not data or not data.strip():
        raise UnreadableMessage("the file is empty")
    message = email.message_from_bytes(data)
    if not message.keys():
        raise UnreadableMessage("no mail headers found")
    defect = _structure_defect(message)
    if defect:
        raise UnreadableMessage(f"truncated or broken MIME structure ({defect})")

    message_id = _message_id(message, data)
    occurred_at = _date(message.get("Date"))

    blocks = _dsn_blocks(message)
    recipient_blocks = [block for block in blocks[1:] if _block_address(block)]
    if recipient_blocks:
        # When it failed: the last attempt, else the report's date, else when
        # the reporting server took the message.
        occurred_at = (
            _date(recipient_blocks[0].get("Last-Attempt-Date"))
            or occurred_at
            or _date(blocks[0].get("Arrival-Date"))
        )
        failures = []
        context = None
        for block in recipient_blocks:
            action = _clean_header(block.get("Action", "failed")).lower() or "failed"
            if action.startswith(SUCCESS_ACTIONS):
                continue
            address = _block_address(block)
            diagnostic = _strip_type(_clean_header(block.get("Diagnostic-Code", "")))
            if not diagnostic:
                context = context if context is not None else _report_text(message)
                diagnostic = _paragraph_naming(context, address)
            failures.append(
                _failed(
                    address,
                    status=_clean_header(block.get("Status", "")),
                    diagnostic=diagnostic,
                    action=action,
                )
            )
        if not failures:
            return BounceReport(False, (), "delivery success", message_id, occurred_at)
        return BounceReport(True, tuple(failures), "bounce", message_id, occurred_at)

    if _is_auto_reply(message):
        return BounceReport(False, (), "auto-reply", message_id, occurred_at)

    try:
        temporary, permanent = flufl.bounce.all_failures(message)
    except Exception as exc:
        # flufl's heuristics meet every shape of text; one failing on odd
        # input makes this message unreadable, not the import.
        raise UnreadableMessage(
            f"bounce detection failed ({type(exc).__name__})"
        ) from None
    if not (temporary or permanent):
        return BounceReport(False, (), "not a bounce", message_id, occurred_at)

    text = _report_text(message)
    failures = []
    for found, action in [(a, "failed") for a in sorted(permanent)] + [
        (a, "delayed") for a in sorted(temporary - permanent)
    ]:
        address = found.decode("ascii", "replace").strip().strip("<>").lower()
        failures.append(
            _failed(
                address,
                status="",
                diagnostic=_paragraph_naming(text, address),
                action=action,
            )
        )
    return BounceReport(True, tuple(failures), "bounce", message_id, occurred_at)


def _failed(address: str, *, status: str, diagnostic: str, action: str):
    diagnostic = " ".join(diagnostic.split())[:MAX_DIAGNOSTIC_CHARS]
    result = classify(status=status, diagnostic=diagnostic, action=action)
    return FailedRecipient(
        address=address,
        kind=result.kind,
        reason=result.reason,
        status=result.status,
        diagnostic=diagnostic,
    )


def _report_parts(message: Message) -> Iterator[Message]:
    """The message and its parts, without entering a returned original."""
    yield message
    if message.get_content_type() in ORIGINAL_TYPES + DSN_TYPES:
        return
    if message.is_multipart():
        for part in message.get_payload():
            if isinstance(part, Message):
                yield from _report_parts(part)


# TODO: a report cut short inside its returned original, after a complete
# status part, could still be used; it is skipped as unreadable until real
# mailboxes show servers truncating reports that way.
def _structure_defect(message: Message) -> str:
    for part in _report_parts(message):
        for defect in part.defects:
            if isinstance(defect, _STRUCTURE_DEFECTS):
                return type(defect).__name__.removesuffix("Defect")
    return ""


def _dsn_blocks(message: Message) -> list[Message]:
    """The header blocks of the first delivery status part, if any."""
    for part in _report_parts(message):
        if part.get_content_type() not in DSN_TYPES:
            continue
        payload = part.get_payload()
        encoding = part.get("Content-Transfer-Encoding", "").strip().lower()
        if (
            isinstance(payload, list)
            and part.get_content_type() == "message/delivery-status"
            and encoding not in ("base64", "quoted-printable")
        ):
            return [block for block in payload if isinstance(block, Message)]
        return _parse_blocks(_raw_status_text(part, encoding))
    return []


def _raw_status_text(part: Message, encoding: str) -> str:
    """A status part's text, for the forms the email package leaves
    unparsed: transfer-encoded, or the global (UTF-8) form."""
    payload = part.get_payload()
    if isinstance(payload, list):
        raw = b"".join(
            block.as_bytes() for block in payload if isinstance(block, Message)
        )
    else:
        raw = payload.encode("utf-8", "surrogateescape")
    if encoding == "base64":
        try:
            raw = base64.b64decode(raw, validate=False)
        except (binascii.Error, ValueError):
            return ""
    elif encoding == "quoted-printable":
        raw = quopri.decodestring(raw)
    return raw.decode("utf-8", "replace")


def _parse_blocks(text: str) -> list[Message]:
    parser = HeaderParser()
    return [
        parser.parsestr(chunk.strip() + "\n")
        for chunk in _BLOCK_SEPARATOR.split(text)
        if chunk.strip()
    ]


def _clean_header(value) -> str:
    """A header's text on one line. Raw 8-bit bytes, which some servers put
    in headers, are read as UTF-8 when they are, as Latin-1 otherwise."""
    if isinstance(value, Header):
        pieces = []
        for chunk, charset in decode_header(value):
            if isinstance(chunk, bytes):
                chunk = _bytes_to_text(chunk, charset)
            pieces.append(chunk)
        value = "".join(pieces)
    return " ".join(str(value or "").split())


def _bytes_to_text(data: bytes, charset: str | None = None) -> str:
    for candidate in (charset, "utf-8"):
        if not candidate or candidate == "unknown-8bit":
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def _strip_type(value: str) -> str:
    """Drop the type of an RFC 3464 typed field: "smtp; 550 x" -> "550 x"."""
    kind, separator, rest = value.partition(";")
    if separator and re.fullmatch(r"[A-Za-z0-9-]+", kind.strip()):
        return rest.strip()
    return value.strip()


def _block_address(block: Message) -> str:
    """The recipient a block reports: the original one when it is given,
    since that is the address the message was sent to."""
    for field in ("Original-Recipient", "Final-Recipient", "X-Actual-Recipient"):
        value = _strip_type(_clean_header(block.get(field, "")))
        value = value.strip().strip("<>").strip()
        if "@" in value:
            return value.lower()
    return ""


def _message_id(message: Message, data: bytes) -> str:
    """The report's identity, so that reading it twice counts once."""
    value = _clean_header(message.get("Message-ID", ""))
    if value:
        return value[:500]
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _date(value) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _decoded_subject(message: Message) -> str:
    try:
        return str(make_header(decode_header(message.get("Subject", ""))))
    except (email_errors.HeaderParseError, LookupError, UnicodeError, ValueError):
        return str(message.get("Subject", ""))


def _is_auto_reply(message: Message) -> bool:
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    if sender.split("@", 1)[0] in DAEMON_SENDERS:
        return False
    if message.get("X-Autoreply") or message.get("X-Autorespond"):
        return True
    auto_submitted = _clean_header(message.get("Auto-Submitted", "")).lower()
    precedence = _clean_header(message.get("Precedence", "")).lower()
    return (
        auto_submitted.startswith("auto-replied")
        or precedence == "auto_reply"
        or bool(_AUTO_REPLY_SUBJECT.match(_decoded_subject(message)))
    )


def _decoded_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return _bytes_to_text(payload, part.get_content_charset())


def _report_text(message: Message) -> str:
    """The human-readable text of the report, without the returned original."""
    texts = []
    for part in _report_parts(message):
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        if content_type == "text/plain":
            texts.append(_decoded_text(part))
        elif content_type == "text/html" and not texts:
            texts.append(re.sub(r"<[^>]+>", " ", _decoded_text(part)))
    return "\n".join(texts)


def _paragraph_naming(text: str, address: str) -> str:
    """The lines of the report about one recipient: from the first line that
    names it to the next blank line (a few lines at most)."""
    if not address:
        return ""
    lines = text.splitlines()
    wanted = address.lower()
    for index, line in enumerate(lines):
        if wanted in line.lower():
            taken = [line]
            for following in lines[index + 1 : index + 8]:
                if not following.strip():
                    break
                taken.append(following)
            paragraph = " ".join(" ".join(taken).split())
            # A line holding nothing but the address says nothing more.
            if _EMAIL.sub("", paragraph).strip(" <>:") or len(taken) > 1:
                return paragraph
    return ""
