"""Helpers of the services area's tests; its fixtures are in conftest.py."""

import time
from urllib.parse import urlsplit

from consent.forms import form_started_token
from consent.models import ConsentEvent


def path(url: str) -> str:
    """The path of an absolute link, for the test client."""
    return urlsplit(url).path


def subscribe_form(**fields) -> dict:
    """What a person's browser posts: a form served a minute ago."""
    data = {
        "email": "ana@example.com",
        "first_name": "",
        "last_name": "",
        "agree": "on",
        "website": "",
        "started": form_started_token(at=time.time() - 60),
    }
    data.update(fields)
    return data


def ledger(**filters) -> list[tuple]:
    """(action, source, channel, service name) of matching ledger rows."""
    return list(
        ConsentEvent.objects.filter(**filters)
        .order_by("id")
        .values_list("action", "source", "channel", "service__name")
    )
