"""check --deploy warns when provider webhooks would accept anyone."""

from delivery.quarantine.checks import check_webhook_secret


def ids(settings, secret):
    settings.ANYMAIL = {"WEBHOOK_SECRET": secret}
    return [message.id for message in check_webhook_secret(None)]


def test_a_missing_webhook_secret_is_reported(settings):
    assert ids(settings, None) == ["quarantine.W001"]
    assert ids(settings, "") == ["quarantine.W001"]


def test_a_secret_without_a_password_is_reported(settings):
    assert ids(settings, "just-a-password") == ["quarantine.W002"]


def test_a_user_and_password_pass(settings):
    assert ids(settings, "provider:long-random-password") == []
    assert ids(settings, ["old:one", "new:two"]) == []
