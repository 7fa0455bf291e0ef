"""create_service NAME --label TEXT --channel CHANNEL [--double-opt-in]."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from consent.models import Service

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("create_service", *args, stdout=out)
    return out.getvalue()


def test_it_creates_a_service_and_prints_its_subscribe_page(settings):
    settings.SITE_URL = "https://consent.example.org"

    output = run(
        "news",
        "--label",
        "Weekly news",
        "--channel",
        "email",
        "--double-opt-in",
        "--description",
        "What happened this week.",
        "--validity-days",
        "365",
    )

    service = Service.objects.get()
    assert (service.name, service.label, service.channel) == (
        "news",
        "Weekly news",
        "email",
    )
    assert service.double_opt_in and service.is_active
    assert service.validity_days == 365
    assert service.description == "What happened this week."
    assert "Created service 'news'" in output
    assert "https://consent.example.org/p/subscribe/news/" in output


def test_json_prints_the_id_and_name():
    output = run("alerts", "--label", "Alerts", "--channel", "sms", "--json")

    service = Service.objects.get()
    assert json.loads(output) == {
        "id": service.pk,
        "name": "alerts",
        "subscribe_url": None,
    }
    assert service.double_opt_in is False
    assert service.validity_days is None


def test_a_name_in_use_is_refused_and_nothing_written():
    run("news", "--label", "News", "--channel", "email")

    with pytest.raises(CommandError, match="NAME: Service with this Name already"):
        run("news", "--label", "Other", "--channel", "sms")
    assert Service.objects.get().label == "News"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bad name", "--label", "X", "--channel", "email"], "NAME: "),
        (["news", "--label", " ", "--channel", "email"], "--label: "),
        (["news", "--label", "X", "--channel", "fax"], "--channel"),
        (
            ["news", "--label", "X", "--channel", "email", "--validity-days", "0"],
            "--validity-days: ",
        ),
        (["news", "--channel", "email"], "--label"),
    ],
)
def test_bad_input_names_the_option_and_writes_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not Service.objects.exists()
