"""Nothing personal in the logs, whatever the flow.

The main flows run with every logger capturing at DEBUG: an import, an
operator's opt-out, every landing page (good links, broken and altered
ones, bad forms), a bounce file and a provider webhook, analysis, sending,
and the data-rights commands. No logged line, with its exception text,
may hold an e-mail address, a phone number or a link's token.
"""

import base64
import json
import logging
import re
import shutil
import time
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from consent.forms import form_started_token
from consent.links import (
    confirm_url,
    preferences_url,
    stop_all_url,
    unsubscribe_url,
)
from consent.models import Profile, Service
from tests.hardening.forms import profile_form_data

FIXTURES = Path(__file__).resolve().parent.parent / "quarantine" / "fixtures"
WEBHOOK_SECRET = "provider:a-long-random-webhook-password"
PEOPLE = [
    ("ana.logs@example.com", "+14155550100"),
    ("bea.logs@example.com", "+14155550101"),
    ("old.account@example.co.uk", "+5511912345678"),
]
NEWCOMER = "newcomer.logs@example.com"

EVERYTHING = logging.Formatter("%(name)s %(levelname)s %(message)s")


# The loopback SMTP server of the tests (aiosmtpd) stands for the mail
# provider: what it logs is the outside world's business, not ours.
NOT_OURS = ("mail.log",)


def logged(caplog) -> str:
    return "\n".join(
        EVERYTHING.format(record)
        for record in caplog.records
        if not record.name.startswith(NOT_OURS)
    )


def secrets_in(text: str, secrets: set[str]) -> set[str]:
    lowered = text.lower()
    found = {secret for secret in secrets if secret.lower() in lowered}
    # Any address at all, not only the ones we planted.
    found |= set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.-]+", text)) - {
        # Django's own sender of test mail is not a person.
        "noreply@localhost",
    }
    return found


@pytest.fixture
def world(db, settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ANYMAIL = {"WEBHOOK_SECRET": WEBHOOK_SECRET}
    news = Service.objects.create(name="news", label="News", double_opt_in=True)
    csv = tmp_path / "people.csv"
    csv.write_text(
        "external_id,first_name,email,mobile_phone,sms_opt_out\n"
        + "".join(
            f"p-{n},Person{n},{email},{phone},{'yes' if n else 'no'}\n"
            for n, (email, phone) in enumerate(PEOPLE)
        ),
        encoding="utf-8",
    )
    return {"news": news, "csv": csv, "tmp": tmp_path}


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_main_flows_log_no_address_phone_or_token(
    world, caplog, consent_operator, smtp_server
):
    # Everything our code logs, and whatever Django logs at its configured
    # levels (django.request: errors only, see settings.LOGGING).
    caplog.set_level(logging.DEBUG)
    for name in ("consent", "delivery", "campaign"):
        caplog.set_level(logging.DEBUG, logger=name)
    news = world["news"]
    tokens: set[str] = set()

    def path(url: str) -> str:
        found = urlsplit(url).path
        tokens.add(found.rstrip("/").rsplit("/", 1)[-1])
        return found

    # Import.
    run("import_profiles", str(world["csv"]))
    ana = Profile.objects.get(email=PEOPLE[0][0])
    public_ids = set(Profile.objects.values_list("public_id", flat=True))

    # An operator's opt-out and a bulk action.
    operator = Client(raise_request_exception=False)
    operator.force_login(consent_operator)
    operator.post(
        reverse("admin:consent_profile_change", args=[ana.pk]),
        profile_form_data(ana, email_opt_out=True, consent_note="by phone"),
    )
    operator.get(reverse("admin:consent_profile_changelist"), {"q": PEOPLE[1][0]})
    operator.get(reverse("admin:consent_profile_changelist"), {"q": PEOPLE[1][1]})

    # Landing pages: good links, a bad form, broken and altered links.
    visitor = Client(raise_request_exception=False)
    visitor.post(
        reverse("consent:subscribe", args=[news.name]),
        {
            "email": NEWCOMER,
            "agree": "on",
            "started": form_started_token(at=time.time() - 60),
        },
    )
    visitor.post(
        reverse("consent:subscribe", args=[news.name]),
        {"email": "not-an-address@", "agree": "on", "started": "x"},
    )
    newcomer = Profile.objects.get(email=NEWCOMER)
    public_ids.add(newcomer.public_id)
    visitor.post(path(confirm_url(newcomer, news)))
    visitor.post(path(preferences_url(ana)), {"channel_email": "on"})
    visitor.post(path(unsubscribe_url(ana, service=news)), {"scope": "channel"})
    visitor.post(
        path(unsubscribe_url(newcomer, service=news)),
        {"List-Unsubscribe": "One-Click"},
    )
    stop = path(stop_all_url(ana))
    visitor.post(stop)
    token = stop.rstrip("/").rsplit("/", 1)[-1]
    visitor.post(stop.replace(token, token[:-2] + "xx"))
    visitor.get(reverse("consent:preferences", args=["not-a-token"]))
    visitor.post(
        stop.replace(token, token[:-2] + "zz"), {"List-Unsubscribe": "One-Click"}
    )

    # A bounce file and a provider's webhook.
    bounce = world["tmp"] / "bounce.eml"
    shutil.copy(FIXTURES / "exim_user_unknown.eml", bounce)
    run("import_bounces", str(bounce))
    Client(raise_request_exception=False).post(
        "/webhooks/postmark/tracking/",
        data=json.dumps(
            {
                "RecordType": "SpamComplaint",
                "Email": PEOPLE[1][0],
                "BouncedAt": "2026-01-01T00:00:00Z",
                "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION="Basic "
        + base64.b64encode(WEBHOOK_SECRET.encode()).decode(),
    )

    # Analysis and sending, with messages really sent.
    delivery_id = json.loads(
        run("create_delivery", "--label", "Logs", "--channel", "email", "--json")
    )["id"]
    operator.post(
        reverse("admin:delivery_delivery_change", args=[delivery_id]),
        {"label": "Logs", "channel": "email", "subject": "Hi", "body": "Hello"},
    )
    run("analyze_delivery", str(delivery_id))
    run("send_delivery", str(delivery_id))

    # Data rights.
    run("export_profile", str(ana.public_id), "--output", str(world["tmp"] / "a"))
    run("erase_profile", str(ana.pk), "--yes")

    secrets = {email for email, _ in PEOPLE} | {NEWCOMER}
    secrets |= {phone for _, phone in PEOPLE} | {phone[1:] for _, phone in PEOPLE}
    secrets |= tokens
    # A link's token starts with the public id; an altered one still does.
    secrets |= {public_id.hex for public_id in public_ids}
    text = logged(caplog)
    assert len(caplog.records) > 20, "the flows logged almost nothing"
    assert smtp_server.messages, "nothing was sent"
    assert secrets_in(text, secrets) == set()


def test_a_server_error_on_a_landing_page_is_logged_without_its_token(caplog):
    token = "4f307406ab454534a224d143d45f24d2..:0af_X-TzsZvteyzv6bh6iFt4c45Eb"

    with caplog.at_level(logging.INFO):
        logging.getLogger("django.request").error(
            "Internal Server Error: %s", f"/p/stop/{token}/"
        )
        # A line with the path already in its text, no arguments.
        whole_line = "Service Unavailable: /p/preferences/" + token + "/?x=1"
        logging.getLogger("django.request").error(whole_line)

    text = logged(caplog)
    assert token not in text
    assert "Internal Server Error: /p/stop/<token>/" in text
    assert "Service Unavailable: /p/preferences/<token>/?x=1" in text
