"""A person subscribes, confirms from the e-mail, then unsubscribes.

Real parts end to end: headless Chromium on the live server, the
confirmation sent by SMTP to a server on loopback, the link taken from the
message as received.
"""

import re

import pytest

from consent import forms
from consent.links import unsubscribe_url
from consent.models import Profile, Service, Subscription
from tests.consent.landing_support import ledger

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIRM_LINK = re.compile(r"https?://\S+/p/confirm/\S+/")


def test_subscribe_confirm_by_mail_then_unsubscribe_in_portuguese(
    page, smtp_server, settings, monkeypatch
):
    settings.SITE_URL = page.base_url
    # The minimum fill time is covered by the client tests; a script fills
    # the form faster than any person.
    monkeypatch.setattr(forms, "MIN_FILL_SECONDS", 0)
    Service.objects.create(
        name="deals",
        label="Deals",
        description="Our best offers, once a week.",
        double_opt_in=True,
    )
    stylesheets = []
    page.on(
        "response",
        lambda r: stylesheets.append(r.status) if r.url.endswith(".css") else None,
    )
    page.set_viewport_size({"width": 390, "height": 844})

    page.goto("/p/subscribe/deals/")
    assert page.title() == "Subscribe to Deals"
    page.get_by_label("E-mail address").fill("Ana.Lima@Example.com")
    page.get_by_label("First name (optional)").fill("Ana")
    page.get_by_label("I want to receive Deals by e-mail").check()
    page.get_by_role("button", name="Subscribe").click()

    page.get_by_role("heading", name="Check your inbox").wait_for()
    assert stylesheets and set(stylesheets) == {200}
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the page scrolls sideways on a phone"
    )
    profile = Profile.objects.get()
    assert profile.email == "ana.lima@example.com"
    assert Subscription.objects.get().status == "pending"

    (message,) = smtp_server.messages
    assert message["To"] == "ana.lima@example.com"
    text = message.get_body(("plain",)).get_content()
    link = CONFIRM_LINK.search(text).group(0)
    assert link.startswith(page.base_url)

    page.goto(link)
    assert Subscription.objects.get().status == "pending"
    page.get_by_role("button", name="Confirm my subscription").click()
    page.get_by_role(
        "heading", name="Your subscription to Deals is confirmed"
    ).wait_for()
    assert Subscription.objects.get().status == "subscribed"

    Profile.objects.filter(pk=profile.pk).update(language="pt-br")
    page.goto(unsubscribe_url(profile, service=Service.objects.get()))
    assert page.title() == "Cancelar inscrição em Deals"
    assert page.locator("html").get_attribute("lang") == "pt-br"
    page.get_by_role("button", name="Cancelar minha inscrição em Deals").click()

    page.get_by_role("heading", name="Sua inscrição foi cancelada").wait_for()
    assert page.get_by_text("Você não vai mais receber Deals.").is_visible()
    assert Subscription.objects.get().status == "unsubscribed"
    assert ledger() == [
        ("subscribe_pending", "landing_page", "email", "deals"),
        ("confirm", "landing_page", "email", "deals"),
        ("unsubscribe", "landing_page", "email", "deals"),
    ]
    wording = profile.consent_events.get(action="unsubscribe").wording
    assert wording == "Cancelar minha inscrição em Deals"
