"""A person with something in every table, for the data-rights tests."""

from consent import actions
from consent.models import ConsentEvent, Profile, Service
from delivery import actions as delivery_actions
from delivery.quarantine import actions as quarantine_actions

ANA_EMAIL = "ana.rights@example.com"
ANA_PHONE = "+14155550100"
ANA_IP = "203.0.113.7"
ANA_AGENT = "Mozilla/5.0 (Ana's phone)"


def person_with_history(settings) -> tuple[Profile, Service]:
    """Ana: opted out of SMS on a landing page, subscribed, bounced once,
    and targeted by one analysed delivery. Bea shares nothing with her."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    news = Service.objects.create(name="news", label="News")
    ana = Profile.objects.create(
        first_name="Ana",
        last_name="Silva",
        email=ANA_EMAIL,
        mobile_phone=ANA_PHONE,
        postal_address="Rua A, 1",
        external_id="crm-ana",
    )
    Profile.objects.create(first_name="Bea", email="bea.rights@example.com")
    landing = actions.Origin(
        source=ConsentEvent.Source.LANDING_PAGE,
        ip_address=ANA_IP,
        user_agent=ANA_AGENT,
        wording="Stop all messages by SMS",
    )
    actions.record_opt_out(profile=ana, channel="sms", origin=landing)
    actions.subscribe(
        profile=ana,
        service=news,
        origin=actions.Origin(source=ConsentEvent.Source.OPERATOR),
    )
    quarantine_actions.record_error(
        address=ANA_EMAIL,
        channel="email",
        kind="soft",
        reason="mailbox_full",
        source="bounce",
        diagnostic="552 5.2.2 mailbox full",
        status_code="5.2.2",
        raw="Final-Recipient: rfc822; ana.rights@example.com",
    )
    delivery = delivery_actions.create_delivery(
        label="Spring news",
        channel="email",
        service=news,
        subject="Hello",
        body="Hello {{ first_name }}",
    )
    delivery_actions.analyze_delivery(delivery=delivery)
    return ana, news
