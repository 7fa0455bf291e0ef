"""Deployment checks of the quarantine app (manage.py check --deploy)."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def check_webhook_secret(app_configs, **kwargs) -> list:
    """Provider webhooks can denylist addresses and opt profiles out: they
    must not accept events from anyone."""
    secret = (getattr(settings, "ANYMAIL", None) or {}).get("WEBHOOK_SECRET")
    secrets = [secret] if isinstance(secret, str) else list(secret or [])
    secrets = [value for value in secrets if value]
    if not secrets:
        return [
            Warning(
                "ANYMAIL_WEBHOOK_SECRET is not set: the e-mail provider "
                "webhooks under /webhooks/ accept events from anyone, and an "
                "event can denylist an address or opt a profile out.",
                hint="Set ANYMAIL_WEBHOOK_SECRET to user:password and give the "
                "provider the same credentials in its webhook URL.",
                id="quarantine.W001",
            )
        ]
    if any(":" not in value for value in secrets):
        return [
            Warning(
                "ANYMAIL_WEBHOOK_SECRET must have the form user:password.",
                id="quarantine.W002",
            )
        ]
    return []
