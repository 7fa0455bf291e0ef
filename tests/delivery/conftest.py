"""Fixtures for delivery tests: services, quarantine states, deliveries."""

import pytest

from consent.actions import Origin, subscribe
from consent.models import Service
from delivery import actions
from delivery.models import Delivery, Recipient
from delivery.quarantine import actions as quarantine
from delivery.quarantine.models import StatusChange

OPERATOR = StatusChange.Source.OPERATOR


@pytest.fixture
def newsletter(db):
    return Service.objects.create(name="newsletter", label="Newsletter")


@pytest.fixture
def sms_alerts(db):
    return Service.objects.create(name="alerts", label="Alerts", channel="sms")


@pytest.fixture
def subscribe_to():
    def run(service, *profiles):
        for profile in profiles:
            subscribe(profile=profile, service=service, origin=Origin("operator"))

    return run


@pytest.fixture
def denylist():
    def run(address, channel="email"):
        quarantine.denylist_address(address=address, channel=channel, source=OPERATOR)

    return run


@pytest.fixture
def quarantine_address():
    def run(address, channel="email"):
        quarantine.record_error(
            address=address,
            channel=channel,
            kind="hard",
            reason="user_unknown",
            source=StatusChange.Source.BOUNCE,
            diagnostic="550 5.1.1 user unknown",
            status_code="5.1.1",
        )

    return run


@pytest.fixture
def allowlist():
    def run(address, channel="email"):
        quarantine.allowlist_address(address=address, channel=channel, source=OPERATOR)

    return run


@pytest.fixture
def make_delivery(db):
    """A draft delivery with content; keyword arguments override."""

    def make(**fields) -> Delivery:
        fields.setdefault("label", "Spring news")
        fields.setdefault("channel", "email")
        fields.setdefault("subject", "Hello {{ first_name }}")
        fields.setdefault("body", "Dear {{ full_name }},\n\nOur spring news.\n")
        return actions.create_delivery(**fields)

    return make


@pytest.fixture
def reasons():
    """The analysis of a delivery as {profile id: reason}, '' to send."""

    def read(delivery) -> dict[int, str]:
        return dict(
            Recipient.objects.filter(delivery=delivery).values_list(
                "profile_id", "reason"
            )
        )

    return read


@pytest.fixture
def analysed(make_delivery):
    """A delivery created then analysed; arguments as for make_delivery."""

    def make(**fields) -> Delivery:
        delivery = make_delivery(**fields)
        actions.analyze_delivery(delivery=delivery)
        delivery.refresh_from_db()
        return delivery

    return make


@pytest.fixture
def refuse_recipients(smtp_server):
    """Make the loopback server refuse some recipients with a given reply.

    The hook is read by each new SMTP session, so it applies from the next
    connection on.
    """

    def install(replies: dict[str, str]) -> None:
        async def handle_RCPT(server, session, envelope, address, rcpt_options):
            if address in replies:
                return replies[address]
            envelope.rcpt_tos.append(address)
            return "250 OK"

        smtp_server.handle_RCPT = handle_RCPT

    return install


@pytest.fixture
def smtp_sessions(smtp_server):
    """The client ports of the connections messages arrived on, in order."""
    peers: list = []
    original = smtp_server.handle_DATA

    async def handle_DATA(server, session, envelope):
        peers.append(session.peer)
        return await original(server, session, envelope)

    smtp_server.handle_DATA = handle_DATA
    return peers
