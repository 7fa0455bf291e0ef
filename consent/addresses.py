"""Normalise and validate the addresses a profile holds.

Every place an address enters (admin forms, landing pages, imports,
quarantine) calls these, so one address is always stored one way.
"""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

MAX_EMAIL_LENGTH = 254


def normalize_email(value: str) -> str:
    """Return the address trimmed and lower-cased, or raise ValidationError.

    The syntax is checked without DNS: a save must not wait on the network.
    """
    candidate = (value or "").strip()
    if not candidate:
        raise ValidationError(_("Enter an e-mail address."), code="required")
    if len(candidate) > MAX_EMAIL_LENGTH:
        raise ValidationError(
            _("An e-mail address has at most %(max)d characters.")
            % {"max": MAX_EMAIL_LENGTH},
            code="too_long",
        )
    try:
        result = validate_email(
            candidate, check_deliverability=False, allow_smtputf8=True
        )
    except EmailNotValidError as exc:
        raise ValidationError(
            _("%(value)s is not a valid e-mail address: %(why)s")
            % {"value": candidate[:80], "why": str(exc)},
            code="invalid",
        ) from None
    return result.normalized.lower()


def normalize_phone(value: str, region: str | None = None) -> str:
    """Return the number in E.164, or raise ValidationError.

    A number written without a country code is read in PHONE_DEFAULT_REGION.
    """
    candidate = (value or "").strip()
    if not candidate:
        raise ValidationError(_("Enter a phone number."), code="required")
    if len(candidate) > 40:
        raise ValidationError(_("A phone number this long is not valid."), "too_long")
    try:
        number = phonenumbers.parse(candidate, region or settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("%(value)s is not a valid phone number.") % {"value": candidate},
            code="invalid",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_address(channel: str, value: str) -> str:
    """Normalise an address of the kind the channel sends to."""
    if channel == "email":
        return normalize_email(value)
    if channel in ("sms", "phone"):
        return normalize_phone(value)
    raise ValidationError(
        _("%(channel)s has no address to normalise.") % {"channel": channel},
        code="invalid_channel",
    )
