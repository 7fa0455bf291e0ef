"""Classify one delivery failure as hard, soft or ignored, with a reason.

Only a failure that says the address itself is bad is hard: the mailbox or
the domain does not exist, or the account is disabled, and the failure is
permanent. A rejection about the sender (blocklists, policy, spam filters,
reputation, authentication, any x.7.x code) is soft, because it says nothing
about the address. Out-of-office replies and "not connected" are ignored, as
are delay warnings, which a final report follows.

The enhanced status code (RFC 3463) decides where it is specific; the
diagnostic text decides otherwise, since many servers send a generic code
(5.0.0, 5.5.0) or none at all.
"""

import re
from dataclasses import dataclass

from delivery.quarantine.models import ErrorKind, Reason

# Reasons that say the address itself is bad: hard when permanent.
ADDRESS_REASONS = (
    Reason.USER_UNKNOWN,
    Reason.INVALID_DOMAIN,
    Reason.ACCOUNT_DISABLED,
)

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_REPLY_CODE = re.compile(r"(?<![\d.])([245]\d\d)(?:[ :-]|$)")


def _patterns(*alternatives: str) -> re.Pattern:
    return re.compile("|".join(alternatives), re.IGNORECASE)


_IGNORED = _patterns(
    r"out of (the )?office",
    r"auto(matic)?[- ]?(reply|response|responder)",
    r"\bvacation\b",
    r"\bon (holiday|leave)\b",
    r"not connected",
    r"\bswitched off\b",
)

# About the sender, the sending host or the content: never about the address.
_SENDER = _patterns(
    r"\bblock(ed|list(ed)?)\b",
    r"\bblack ?list(ed)?\b",
    r"\bdeny ?list(ed)?\b",
    r"\blisted (at|in|on|by)\b",
    r"spamhaus|spamcop|barracuda|sorbs|\brbl\b|dnsbl|\bbl\d\d\b",
    r"\bspam\b",
    r"\bpolicy\b",
    r"reputation",
    r"\bdmarc\b|\bspf\b|\bdkim\b|unauthenticated|authentication",
    r"not (authori[sz]ed|permitted)",
    r"rate limit|too many (messages|connections|recipients|mails)|throttl",
    r"client host .{0,80}rejected|sender address rejected|sender .{0,40}rejected",
    r"relay(ing)? (access )?(denied|not permitted)",
    r"\bTS[S]?\d\d\b|\bPH\d\d\b",
    r"virus|malware|suspicious|phishing",
    r"content (rejected|filter)|message (content )?rejected|rejected as",
    r"unsolicited|bulk mail|junk",
    r"\byour ip\b|sending (ip|host|server)|ip address .{0,60}(listed|blocked)",
    r"\bbanned\b|\bdenied by\b",
)

_USER_UNKNOWN = _patterns(
    r"user ?unknown|unknown (user|recipient|address|mailbox|local[- ]part|alias)",
    r"no such (user|recipient|mailbox|person|account|address)",
    r"(user|recipient|mailbox|account|address|e-?mail account)\b[^.;]{0,60}"
    r"(does not|doesn't|did not|do not) exist",
    r"does not exist",
    r"doesn'?t have an? [^;]{0,40}account",
    r"mailbox (not found|unavailable|does not exist|name not allowed)",
    r"(recipient|user|account|address) not (found|known|valid)",
    r"recipientnotfound|recipnotfound|\bRESOLVER\.ADR\.",
    r"invalid (recipient|mailbox|address|user)",
    r"bad destination mailbox",
    r"addressee unknown",
    r"not a valid (mailbox|recipient|user|address)",
    r"no mailbox here|no mailbox by that name",
    r"recipient address rejected: access denied",
    r"utilisateur inconnu|destinataire inconnu|unbekannt|no existe|inexistente",
)

_INVALID_DOMAIN = _patterns(
    r"host (or domain name )?not found",
    r"domain (name )?not found|no such domain|unknown domain",
    r"domain [^.;]{0,60}(does not|doesn't) exist",
    r"nxdomain|name service error|\bno mx\b|null ?mx",
    r"does not accept (e-?)?mail",
    r"unrout(e)?able (address|domain)",
    r"mx records? point to non-?existent hosts?",
    r"invalid domain|bad destination system",
)

_ACCOUNT_DISABLED = _patterns(
    r"\b(account|mailbox|user|address)\b[^.;]{0,60}"
    r"\b(disabled|deactivated|inactive|suspended|closed|locked|expired)\b",
    r"\b(disabled|deactivated|inactive|suspended) (account|mailbox|user)\b",
    r"no longer (active|available|in use|valid)",
)

_MAILBOX_FULL = _patterns(
    r"mail ?box[^.;]{0,30}\bfull\b|full mail ?box",
    r"over ?quota|quota (exceeded|exceed)|exceed(s|ed)? [^.;]{0,30}quota",
    r"insufficient (storage|space|disk)|out of (storage|space)",
    r"storage (space )?(full|exceeded|limit)|disk quota",
    r"bo[iî]te (aux lettres )?pleine|postfach voll",
)

_UNREACHABLE = _patterns(
    r"connection (timed out|refused|reset|lost|closed)",
    r"timed? ?out|time-?out",
    r"(could not|couldn't|unable to|cannot) connect",
    r"network (is )?unreachable|no route to host|host unreachable",
    r"no answer from (the )?(remote )?host",
    r"delivery time expired|message expired|retry time.{0,20}exceeded",
    r"lost connection|temporar(il)?y (unavailable|failure|deferred)",
    r"try again later|too many hops|mail loop|loops? back",
)

# (subject, detail) -> reason, where the code alone is specific enough.
_BY_STATUS = {
    (1, 1): Reason.USER_UNKNOWN,
    (1, 2): Reason.INVALID_DOMAIN,
    (1, 3): Reason.USER_UNKNOWN,
    (1, 6): Reason.USER_UNKNOWN,
    (2, 1): Reason.ACCOUNT_DISABLED,
    (2, 2): Reason.MAILBOX_FULL,
    (2, 3): Reason.REFUSED,
    (3, 4): Reason.REFUSED,
}
# Status subjects that mean a reason whatever the detail.
_BY_SUBJECT = {
    3: Reason.UNREACHABLE,
    6: Reason.REFUSED,
    7: Reason.REFUSED,
}


@dataclass(frozen=True)
class Classification:
    kind: str
    reason: str
    status: str


def find_status(text: str) -> str:
    """The first enhanced status code (e.g. 5.1.1) in a text, or ""."""
    match = _STATUS.search(text or "")
    return ".".join(match.groups()) if match else ""


def find_reply_code(text: str) -> str:
    """The first SMTP reply code (e.g. 550) in a text, or ""."""
    match = _REPLY_CODE.search(text or "")
    return match.group(1) if match else ""


def _reason_from_text(text: str) -> str:
    for pattern, reason in (
        (_MAILBOX_FULL, Reason.MAILBOX_FULL),
        (_ACCOUNT_DISABLED, Reason.ACCOUNT_DISABLED),
        (_INVALID_DOMAIN, Reason.INVALID_DOMAIN),
        (_USER_UNKNOWN, Reason.USER_UNKNOWN),
        (_UNREACHABLE, Reason.UNREACHABLE),
    ):
        if pattern.search(text):
            return reason
    return ""


def _reason_from_status(status: str, text: str) -> str:
    if not status:
        return ""
    _, subject, detail = (int(part) for part in status.split("."))
    if (subject, detail) == (1, 10):
        # RFC 7505 says null MX; Microsoft uses it for an unknown recipient.
        return (
            Reason.USER_UNKNOWN if _USER_UNKNOWN.search(text) else Reason.INVALID_DOMAIN
        )
    if (subject, detail) == (4, 4):
        return Reason.INVALID_DOMAIN if status[0] == "5" else Reason.UNREACHABLE
    if subject == 4 and (subject, detail) != (4, 1):
        return Reason.UNREACHABLE
    return _BY_STATUS.get((subject, detail)) or _BY_SUBJECT.get(subject, "")


def _is_permanent(status: str, reply_code: str, action: str) -> bool:
    if status:
        return status.startswith("5")
    if reply_code:
        return reply_code.startswith("5")
    return action != "delayed"


def classify(
    *, status: str = "", diagnostic: str = "", action: str = "failed"
) -> Classification:
    """Classify a failure from its enhanced status code, its diagnostic text
    (which may hold the SMTP reply) and its DSN action.

    Return a Classification whose status is the given code, or the first
    one found in the text.
    """
    text = " ".join((diagnostic or "").split())
    found_in_text = find_status(text)
    status = find_status(status) or found_in_text
    if status.endswith(".0.0") and found_in_text[:1] == status[:1]:
        # A generic code beside a specific one in the reply: take the latter.
        status = found_in_text
    reply_code = find_reply_code(text)
    action = (action or "failed").lower()

    if _IGNORED.search(text):
        return Classification(ErrorKind.IGNORED, Reason.NOT_CONNECTED, status)

    subject = int(status.split(".")[1]) if status else None
    if _SENDER.search(text) or subject == 7:
        reason = Reason.REFUSED
    else:
        reason = (
            _reason_from_status(status, text)
            or _reason_from_text(text)
            or Reason.UNKNOWN
        )

    if action.startswith("delayed"):
        return Classification(ErrorKind.IGNORED, reason, status)
    if reason in ADDRESS_REASONS and _is_permanent(status, reply_code, action):
        return Classification(ErrorKind.HARD, reason, status)
    return Classification(ErrorKind.SOFT, reason, status)
