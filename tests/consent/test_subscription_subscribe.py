"""consent.actions.subscribe: start, or ask to confirm, a subscription."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from consent.actions import Origin, subscribe
from consent.models import Subscription
from delivery.quarantine.models import Address
from tests.consent.landing_support import ledger

pytestmark = pytest.mark.django_db

OPERATOR = Origin("operator")
PAGE = Origin("landing_page", ip_address="192.0.2.1", wording="Yes please.")


@pytest.fixture
def ana(make_profile):
    return make_profile(email="ana@example.com")


def test_a_subscription_starts_with_its_end_from_the_validity(ana, make_service):
    service = make_service(validity_days=30)

    subscription = subscribe(profile=ana, service=service, origin=OPERATOR)

    assert subscription.status == Subscription.Status.SUBSCRIBED
    assert subscription.expires_at - subscription.subscribed_at == timedelta(days=30)
    assert ledger() == [("subscribe", "operator", "email", service.name)]


def test_an_unlimited_service_never_ends(ana, newsletter):
    subscription = subscribe(profile=ana, service=newsletter, origin=OPERATOR)

    assert subscription.expires_at is None


def test_the_ledger_keeps_where_and_what_the_person_agreed_to(ana, newsletter):
    subscribe(profile=ana, service=newsletter, origin=PAGE)

    event = ana.consent_events.get()
    assert (event.ip_address, event.wording, event.source) == (
        "192.0.2.1",
        "Yes please.",
        "landing_page",
    )


def test_double_opt_in_waits_and_mails_the_request_after_commit(
    ana, confirmed_news, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        subscription = subscribe(
            profile=ana, service=confirmed_news, origin=PAGE, double_opt_in=True
        )
        assert mailoutbox == []

    assert len(callbacks) == 1
    assert subscription.status == Subscription.Status.PENDING
    assert subscription.confirmation_sent_at is not None
    assert ledger() == [("subscribe_pending", "landing_page", "email", "deals")]
    assert mailoutbox[0].to == ["ana@example.com"]


def test_no_mail_leaves_when_the_transaction_is_rolled_back(
    ana, confirmed_news, django_capture_on_commit_callbacks, mailoutbox
):
    class Abort(Exception):
        pass

    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(Abort), transaction.atomic():
            subscribe(
                profile=ana, service=confirmed_news, origin=PAGE, double_opt_in=True
            )
            raise Abort

    assert mailoutbox == []
    assert not Subscription.objects.exists()
    assert ledger() == []


def test_a_running_subscription_is_never_downgraded_to_pending(ana, confirmed_news):
    subscribe(profile=ana, service=confirmed_news, origin=OPERATOR)

    again = subscribe(
        profile=ana, service=confirmed_news, origin=PAGE, double_opt_in=True
    )

    assert again.status == Subscription.Status.SUBSCRIBED
    assert len(ledger()) == 1


def test_an_operator_subscribes_a_pending_profile_at_once(ana, confirmed_news):
    subscribe(profile=ana, service=confirmed_news, origin=PAGE, double_opt_in=True)

    subscription = subscribe(profile=ana, service=confirmed_news, origin=OPERATOR)

    assert subscription.status == Subscription.Status.SUBSCRIBED
    assert [row[0] for row in ledger()] == ["subscribe_pending", "subscribe"]


def test_an_ended_subscription_starts_again_with_a_new_ledger_row(ana, newsletter):
    subscribe(profile=ana, service=newsletter, origin=OPERATOR)
    Subscription.objects.update(status="unsubscribed", unsubscribed_at=timezone.now())

    subscription = subscribe(profile=ana, service=newsletter, origin=OPERATOR)

    assert subscription.status == Subscription.Status.SUBSCRIBED
    assert subscription.unsubscribed_at is None
    assert Subscription.objects.count() == 1
    assert len(ledger()) == 2


def test_the_welcome_message_goes_only_to_a_new_subscription(
    ana, newsletter, django_capture_on_commit_callbacks, mailoutbox
):
    with django_capture_on_commit_callbacks(execute=True):
        subscribe(profile=ana, service=newsletter, origin=PAGE, send_message=True)
        subscribe(profile=ana, service=newsletter, origin=PAGE, send_message=True)

    (message,) = mailoutbox
    assert message.subject == "You are subscribed to Weekly news"
    assert message.extra_headers["List-Unsubscribe-Post"] == (
        "List-Unsubscribe=One-Click"
    )
    assert "/p/unsubscribe/" in message.extra_headers["List-Unsubscribe"]


def test_the_service_message_is_used_when_it_has_one(
    ana, make_service, django_capture_on_commit_callbacks, mailoutbox
):
    service = make_service(
        label="Club",
        double_opt_in=True,
        confirmation_subject="Welcome to the club",
        confirmation_body="We write twice a month about club events.",
    )

    with django_capture_on_commit_callbacks(execute=True):
        subscribe(profile=ana, service=service, origin=PAGE, double_opt_in=True)

    (message,) = mailoutbox
    assert message.subject == "Welcome to the club"
    assert "We write twice a month about club events." in message.body


def test_a_quarantined_address_gets_no_mail(
    ana, confirmed_news, django_capture_on_commit_callbacks, mailoutbox
):
    Address.objects.create(
        address="ana@example.com", channel="email", status="quarantined"
    )

    with django_capture_on_commit_callbacks(execute=True):
        subscribe(profile=ana, service=confirmed_news, origin=PAGE, double_opt_in=True)

    assert mailoutbox == []
    assert Subscription.objects.get().status == Subscription.Status.PENDING


def test_a_mail_server_failure_is_logged_and_the_subscription_kept(
    ana, confirmed_news, django_capture_on_commit_callbacks, settings, caplog
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9  # discard: nothing listens, the connection is refused
    settings.EMAIL_TIMEOUT = 5

    with django_capture_on_commit_callbacks(execute=True):
        subscribe(profile=ana, service=confirmed_news, origin=PAGE, double_opt_in=True)

    assert Subscription.objects.get().status == Subscription.Status.PENDING
    assert "confirmation request mail not sent (ConnectionRefusedError)" in caplog.text
    assert "ana@example.com" not in caplog.text
