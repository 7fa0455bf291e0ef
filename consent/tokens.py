"""Signed tokens that name a profile in the links of messages.

A token carries the profile's public id (never its database id), and for
some purposes a service and a channel. Each purpose signs with its own salt,
so a token made for one page is refused by every other. Unsubscribe,
stop-all and preference tokens never expire: people click old messages.
Confirmation tokens do, because they turn a request into consent.

Keys: tokens are signed with SECRET_KEY and still accepted when signed with
one of SECRET_KEY_FALLBACKS, so a key can be rotated without breaking the
links already sent.
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core import signing

from consent.models import Channel

# A confirmation link older than this asks the person to subscribe again.
CONFIRMATION_MAX_AGE = timedelta(days=7)

# Far longer than any token we make; anything longer is refused before any
# signature work is done on it.
MAX_TOKEN_LENGTH = 200

_FIELD_SEPARATOR = "."


class Purpose(enum.Enum):
    UNSUBSCRIBE = "unsubscribe"
    STOP_ALL = "stop_all"
    PREFERENCES = "preferences"
    CONFIRM = "confirm"

    @property
    def salt(self) -> str:
        return f"consent.tokens.{self.value}"

    @property
    def expires(self) -> bool:
        return self is Purpose.CONFIRM


class BadToken(Exception):
    """The token was not made by us for this purpose, or was altered."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ExpiredToken(BadToken):
    """The token is genuine but older than its purpose allows."""


@dataclass(frozen=True)
class Claims:
    """What a genuine token says."""

    public_id: uuid.UUID
    service_id: int | None = None
    channel: str | None = None


def _signer(purpose: Purpose) -> signing.Signer:
    if purpose.expires:
        return signing.TimestampSigner(salt=purpose.salt)
    return signing.Signer(salt=purpose.salt)


def make_token(
    purpose: Purpose,
    *,
    public_id: uuid.UUID,
    service_id: int | None = None,
    channel: str | None = None,
) -> str:
    """Sign the claims for one purpose; the result is safe in a URL path."""
    if channel is not None and channel not in Channel.values:
        raise ValueError(f"Unknown channel {channel!r}.")
    value = _FIELD_SEPARATOR.join((public_id.hex, str(service_id or ""), channel or ""))
    return _signer(purpose).sign(value)


def read_token(purpose: Purpose, token: str) -> Claims:
    """Return the claims of a genuine token, or raise BadToken.

    The reason on BadToken is a short code fit for logs; it never repeats
    the token.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise BadToken("length")
    try:
        if purpose.expires:
            value = _signer(purpose).unsign(
                token, max_age=CONFIRMATION_MAX_AGE.total_seconds()
            )
        else:
            value = _signer(purpose).unsign(token)
    except signing.SignatureExpired:
        raise ExpiredToken("expired") from None
    except signing.BadSignature:
        raise BadToken("signature") from None

    # A genuine signature over a malformed value means our own code made a
    # bad token; refuse it all the same rather than guess.
    parts = value.split(_FIELD_SEPARATOR)
    if len(parts) != 3:
        raise BadToken("shape")
    public_hex, service_part, channel_part = parts
    try:
        public_id = uuid.UUID(hex=public_hex)
        service_id = int(service_part) if service_part else None
    except ValueError:
        raise BadToken("shape") from None
    if channel_part and channel_part not in Channel.values:
        raise BadToken("channel")
    return Claims(
        public_id=public_id, service_id=service_id, channel=channel_part or None
    )
