import pytest
from django.core.exceptions import ValidationError

from consent.addresses import normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ana.Silva@Example.COM ", "ana.silva@example.com"),
        ("bob+news@example.org", "bob+news@example.org"),
    ],
)
def test_emails_are_trimmed_and_lower_cased(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "plainaddress", "a@b", "two@@example.com", "x" * 250 + "@example.com"]
)
def test_invalid_emails_are_refused_with_a_message(raw):
    with pytest.raises(ValidationError) as caught:
        normalize_email(raw)

    assert caught.value.messages[0]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+55 11 91234-5678", "+5511912345678"),
        ("(415) 555-0132", "+14155550132"),
        ("+44 7911 123456", "+447911123456"),
    ],
)
def test_phone_numbers_become_e164(raw, expected, settings):
    settings.PHONE_DEFAULT_REGION = "US"

    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12", "not a number", "+999 123", "1" * 50])
def test_invalid_phone_numbers_are_refused(raw):
    with pytest.raises(ValidationError):
        normalize_phone(raw)
