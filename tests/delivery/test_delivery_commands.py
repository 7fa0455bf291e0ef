"""The delivery commands, as a batch job runs them."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from delivery.models import Delivery, Exclusion, Recipient

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_delivery_prints_the_new_id(newsletter):
    out, _ = run(
        "create_delivery",
        "--label",
        "Spring",
        "--channel",
        "email",
        "--service",
        "newsletter",
        "--language",
        "en",
        "--subject",
        "Hi {{ first_name }}",
        "--body",
        "News",
    )

    delivery = Delivery.objects.get()
    assert out.strip() == str(delivery.pk)
    assert (delivery.label, delivery.service, delivery.language) == (
        "Spring",
        newsletter,
        "en",
    )
    assert (delivery.status, delivery.exclude_duplicates) == ("draft", True)


def test_create_delivery_with_json_prints_only_the_id_object():
    out, _ = run(
        "create_delivery",
        "--label",
        "Alert",
        "--channel",
        "sms",
        "--keep-duplicates",
        "--json",
    )

    delivery = Delivery.objects.get()
    assert json.loads(out) == {"id": delivery.pk}
    assert delivery.exclude_duplicates is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--channel", "fax"], "--channel: fax is not a channel"),
        (["--channel", "email", "--service", "nope"], "--service: there is no service"),
        (
            ["--channel", "email", "--language", "xx"],
            "--language: xx is not a language",
        ),
        (
            ["--channel", "email", "--body", "{% if %}"],
            "--body: This template has an error",
        ),
        (
            ["--channel", "sms", "--service", "newsletter"],
            "--channel: The service newsletter",
        ),
    ],
)
def test_create_delivery_names_the_bad_option_and_creates_nothing(
    newsletter, extra, message
):
    with pytest.raises(CommandError, match=message):
        run("create_delivery", "--label", "X", *extra)

    assert not Delivery.objects.exists()


def test_analyze_delivery_json_is_exactly_the_contract(make_profile, make_delivery):
    make_profile(email="ann@example.com")
    make_profile(email="ANN@example.com")
    make_profile(email="", no_longer_contact=True)
    delivery = make_delivery()

    out, err = run("analyze_delivery", str(delivery.pk), "--json")

    result = json.loads(out)
    assert set(result) == {
        "delivery",
        "channel",
        "target",
        "excluded",
        "to_send",
        "seconds",
    }
    assert result["delivery"] == delivery.pk
    assert result["channel"] == "email"
    assert (result["target"], result["to_send"]) == (3, 1)
    assert result["excluded"] == {
        **dict.fromkeys(Exclusion.values, 0),
        "no_address": 1,
        "duplicate": 1,
    }
    assert list(result["excluded"]) == list(Exclusion.values)
    assert isinstance(result["seconds"], float)
    assert "Classifying the target" in err
    assert Recipient.objects.filter(delivery=delivery).count() == 3


def test_analyze_delivery_prints_a_summary_with_every_reason(
    make_profile, make_delivery
):
    make_profile(email="ann@example.com", email_opt_out=True)
    delivery = make_delivery()

    out, _ = run("analyze_delivery", str(delivery.pk))

    assert f"Delivery {delivery.pk} (email): 1 targeted, 0 to send" in out
    for label in Exclusion.labels:
        assert str(label) in out


def test_analyze_delivery_refuses_an_unknown_id():
    with pytest.raises(CommandError, match="there is no delivery with id 999"):
        run("analyze_delivery", "999")


def test_analyze_delivery_refuses_a_sent_delivery(make_profile, analysed):
    make_profile(email="ann@example.com")
    delivery = analysed()
    Delivery.objects.filter(pk=delivery.pk).update(status="sent")

    with pytest.raises(
        CommandError, match=f"Delivery {delivery.pk}: .*sent.*cannot be analysed"
    ):
        run("analyze_delivery", str(delivery.pk))


def test_send_delivery_sends_and_prints_json_alone(smtp_server, make_profile, analysed):
    make_profile(email="ann@example.com")
    delivery = analysed()

    out, err = run("send_delivery", str(delivery.pk), "--json")

    result = json.loads(out)
    assert {
        k: result[k] for k in ("delivery", "status", "sent", "failed", "skipped")
    } == {
        "delivery": delivery.pk,
        "status": "sent",
        "sent": 1,
        "failed": 0,
        "skipped": 0,
    }
    assert "batch 1/1" in err
    assert len(smtp_server.messages) == 1


def test_send_delivery_with_the_console_backend_keeps_json_on_stdout(
    make_profile, analysed, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    make_profile(email="ann@example.com")
    delivery = analysed()

    out, _ = run("send_delivery", str(delivery.pk), "--json")

    assert json.loads(out)["sent"] == 1


def test_send_delivery_refuses_a_draft(make_profile, make_delivery):
    delivery = make_delivery()

    with pytest.raises(CommandError, match="Only an analysed delivery can be sent"):
        run("send_delivery", str(delivery.pk))


def test_send_delivery_refuses_to_send_again(smtp_server, make_profile, analysed):
    make_profile(email="ann@example.com")
    delivery = analysed()
    run("send_delivery", str(delivery.pk))

    with pytest.raises(CommandError, match="this one is sent"):
        run("send_delivery", str(delivery.pk))

    assert len(smtp_server.messages) == 1


def test_send_delivery_dry_run_counts_and_sends_nothing(
    smtp_server, make_profile, analysed
):
    from consent.actions import Origin, record_opt_out

    make_profile(email="ann@example.com")
    late = make_profile(email="late@example.com")
    delivery = analysed()
    record_opt_out(profile=late, origin=Origin("operator"))

    out, _ = run("send_delivery", str(delivery.pk), "--dry-run", "--json")

    assert json.loads(out) == {
        "delivery": delivery.pk,
        "dry_run": True,
        "to_send": 1,
        "skipped": {"opted_out": 1},
    }
    assert smtp_server.messages == []
    assert Delivery.objects.get(pk=delivery.pk).status == "analysed"


def test_send_delivery_says_how_to_resume_when_the_server_is_gone(
    make_profile, analysed, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = 9  # discard: nothing listens on loopback
    settings.EMAIL_TIMEOUT = 2
    make_profile(email="ann@example.com")
    delivery = analysed()

    with pytest.raises(CommandError, match=f"run send_delivery {delivery.pk} again"):
        run("send_delivery", str(delivery.pk))

    assert Recipient.objects.get(delivery=delivery).status == "pending"
    assert Delivery.objects.get(pk=delivery.pk).status == "sending"
