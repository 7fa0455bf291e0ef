"""Fixtures of the services area: services to subscribe to."""

from itertools import count

import pytest

from consent.models import Service

_numbers = count(1)


@pytest.fixture
def make_service(db):
    def make(**fields) -> Service:
        n = next(_numbers)
        fields.setdefault("name", f"service-{n}")
        fields.setdefault("label", f"Service {n}")
        return Service.objects.create(**fields)

    return make


@pytest.fixture
def newsletter(make_service) -> Service:
    return make_service(
        name="news",
        label="Weekly news",
        description="What happened this week.",
        consent_wording="I want the weekly news by e-mail.",
    )


@pytest.fixture
def confirmed_news(make_service) -> Service:
    """A double opt-in service."""
    return make_service(
        name="deals", label="Deals", double_opt_in=True, validity_days=365
    )
