"""Fixtures shared by every test folder."""

import email
import os
import shutil
import socket
from email.policy import default

import pytest
from django.contrib.auth.models import Group
from hypothesis import settings as hypothesis_settings

from consent.models import Profile

# In CI the generated inputs are the same on every run, so a red build
# points at a change, not at luck; locally they vary and keep exploring.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def make_profile(db):
    """Create a profile; addresses are given already normalised."""
    counter = iter(range(1, 1_000_000))

    def make(**fields) -> Profile:
        n = next(counter)
        fields.setdefault("first_name", f"Person{n}")
        fields.setdefault("last_name", "Tester")
        return Profile.objects.create(**fields)

    return make


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(
        "root-operator", "root@example.test", "correct-horse-battery"
    )


@pytest.fixture
def consent_operator(django_user_model):
    """A staff user in the group that may change consent."""
    user = django_user_model.objects.create_user(
        "consent-operator", password="correct-horse-battery", is_staff=True
    )
    user.groups.add(Group.objects.get(name="Consent operators"))
    return user


@pytest.fixture
def consent_viewer(django_user_model):
    """A staff user in the group that may only look."""
    user = django_user_model.objects.create_user(
        "consent-viewer", password="correct-horse-battery", is_staff=True
    )
    user.groups.add(Group.objects.get(name="Consent viewers"))
    return user


@pytest.fixture(scope="session")
def _playwright_browser():
    # Playwright's sync API runs an event loop in this thread; the ORM calls
    # the tests make between browser steps are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    if not CHROMIUM:
        pytest.fail(
            "Chromium is not installed: apt-get install chromium "
            "(or set CHROMIUM_PATH). Browser tests never skip."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(_playwright_browser, live_server):
    """A fresh browser tab; the live server's URL is page.base_url."""
    context = _playwright_browser.new_context(base_url=live_server.url)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.base_url = live_server.url
    yield tab
    context.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Inbox:
    """What a loopback SMTP server received, parsed by the email package."""

    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=default)
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server on loopback; Django's SMTP backend points at it.

    Yields the inbox: `.messages` are parsed EmailMessage objects.
    """
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_TIMEOUT = 10
    try:
        yield inbox
    finally:
        controller.stop()
