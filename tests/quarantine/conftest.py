"""Fixtures of the quarantine tests."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from delivery.quarantine.models import StatusChange

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def soft_error(db):
    """Record one soft error for an address at a given moment."""
    from delivery.quarantine.actions import apply_error

    def record(address="reader@example.com", *, at, reason="unreachable", **extra):
        return apply_error(
            address=address,
            channel="email",
            kind="soft",
            reason=reason,
            source=StatusChange.Source.BOUNCE,
            occurred_at=at,
            **extra,
        )

    return record


@pytest.fixture
def long_ago():
    """A moment far enough back that later errors can be spread after it."""
    return timezone.now() - timedelta(days=60)
