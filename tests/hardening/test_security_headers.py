"""Security headers on every kind of page, and HTTPS in production settings."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from consent.links import preferences_url, unsubscribe_url

ROOT = Path(__file__).resolve().parent.parent.parent

EVERY_PAGE = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@pytest.fixture
def ana(make_profile):
    return make_profile(first_name="Ana", email="ana.headers@example.com")


def pages(ana) -> dict:
    visitor = Client(raise_request_exception=False)
    return {
        "landing page": visitor.get(urlsplit(preferences_url(ana)).path),
        "one-click answer": visitor.post(
            urlsplit(unsubscribe_url(ana)).path, {"List-Unsubscribe": "One-Click"}
        ),
        "admin login": visitor.get(reverse("admin:login")),
        "not found": visitor.get("/p/nothing-here/"),
        "bad link": visitor.get(reverse("consent:stop_all", args=["broken"])),
        "bad request": visitor.get("/p/subscribe/x\x00/"),
    }


def test_every_kind_of_page_carries_the_security_headers(ana):
    missing = {
        name: {
            header: response.get(header)
            for header, value in EVERY_PAGE.items()
            if response.get(header) != value
        }
        for name, response in pages(ana).items()
    }

    assert {name: found for name, found in missing.items() if found} == {}


def test_landing_pages_are_never_cached(ana):
    response = pages(ana)["landing page"]

    assert "no-store" in response["Cache-Control"]
    assert response["X-Robots-Tag"] == "noindex"


PRODUCTION_PROBE = """
import json, django
django.setup()
from django.test import Client
from django.conf import settings
browser = Client(HTTP_HOST="consent.example.com")
plain = browser.get("/admin/login/")
login = browser.get("/admin/login/", secure=True)
print(json.dumps({
    "redirect": [plain.status_code, plain.get("Location")],
    "hsts": login.get("Strict-Transport-Security"),
    "csrf_cookie_secure": bool(login.cookies["csrftoken"]["secure"]),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "debug": settings.DEBUG,
}))
"""


def test_production_settings_force_https_with_hsts_and_secure_cookies(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_")
        and key not in ("PYTEST_VERSION", "DATABASE_URL")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="campaign.settings",
        DJANGO_SECRET_KEY="x7#k2!qv" * 8,
        DJANGO_ALLOWED_HOSTS="consent.example.com",
        SITE_URL="https://consent.example.com",
        # Production serves hashed files that only collectstatic writes.
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
    )
    collected = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert collected.returncode == 0, collected.stderr

    result = subprocess.run(
        [sys.executable, "-c", PRODUCTION_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {
        "redirect": [301, "https://consent.example.com/admin/login/"],
        "hsts": "max-age=31536000; includeSubDomains; preload",
        "csrf_cookie_secure": True,
        "session_cookie_secure": True,
        "session_cookie_httponly": True,
        "debug": False,
    }
