"""analyze_delivery: who is left out, why, and in which order."""

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.actions import Origin, record_opt_out, unsubscribe
from consent.models import Subscription
from delivery.actions import DeliveryStateError, analyze_delivery
from delivery.models import Delivery, DeliveryEvent, Exclusion, Recipient

pytestmark = pytest.mark.django_db

EVERY_KEY = list(Exclusion.values)


def analyse(delivery, operator=None):
    return analyze_delivery(delivery=delivery, operator=operator)


def test_a_clean_profile_is_a_recipient_and_every_reason_counts_zero(
    make_profile, make_delivery, reasons
):
    ann = make_profile(email="ann@example.com")
    delivery = make_delivery()

    result = analyse(delivery)

    assert reasons(delivery) == {ann.pk: ""}
    assert result.target == 1
    assert result.to_send == 1
    assert result.excluded == dict.fromkeys(EVERY_KEY, 0)
    row = Recipient.objects.get(delivery=delivery)
    assert (row.address, row.status) == ("ann@example.com", "pending")


@pytest.mark.parametrize(
    ("profile_fields", "reason"),
    [
        ({"email": ""}, "no_address"),
        ({"email": "   "}, "no_address"),
        ({"email": "not-an-address"}, "invalid_address"),
        ({"email": "two@@example.com"}, "invalid_address"),
        ({"email": "ann @example.com"}, "invalid_address"),
        ({"email": "ann@localhost"}, "invalid_address"),
        ({"email": "ann@example..com"}, "invalid_address"),
        ({"email": "ann.@example.com"}, "invalid_address"),
        ({"email": ".ann@example.com"}, "invalid_address"),
        ({"email": "ann@example.com."}, "invalid_address"),
        ({"email": "x@example.com", "no_longer_contact": True}, "opted_out"),
        ({"email": "x@example.com", "email_opt_out": True}, "channel_opted_out"),
    ],
)
def test_a_profile_is_excluded_for_its_own_reason(
    make_profile, make_delivery, reasons, profile_fields, reason
):
    other = make_profile(email="other@example.com")
    excluded = make_profile(**profile_fields)
    delivery = make_delivery()

    result = analyse(delivery)

    assert reasons(delivery) == {other.pk: "", excluded.pk: reason}
    assert result.excluded == {**dict.fromkeys(EVERY_KEY, 0), reason: 1}
    assert result.to_send == 1


def test_a_denylisted_address_is_excluded(
    make_profile, make_delivery, denylist, reasons
):
    ann = make_profile(email="ann@example.com")
    denylist("ann@example.com")
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {ann.pk: "denylisted"}


def test_a_quarantined_address_is_excluded(
    make_profile, make_delivery, quarantine_address, reasons
):
    ann = make_profile(email="ann@example.com")
    quarantine_address("ann@example.com")
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {ann.pk: "quarantined"}


def test_an_address_with_errors_is_still_sent(make_profile, make_delivery, reasons):
    from delivery.quarantine.actions import record_error

    ann = make_profile(email="ann@example.com")
    record_error(
        address="ann@example.com",
        channel="email",
        kind="soft",
        reason="mailbox_full",
        source="bounce",
    )
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {ann.pk: ""}


def test_an_opt_out_of_another_channel_does_not_exclude_from_email(
    make_profile, make_delivery, reasons
):
    ann = make_profile(email="ann@example.com", sms_opt_out=True, push_opt_out=True)
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {ann.pk: ""}


def test_duplicates_keep_the_lowest_profile_id(make_profile, make_delivery, reasons):
    first = make_profile(email="shared@example.com")
    second = make_profile(email="shared@example.com")
    third = make_profile(email="shared@example.com")
    delivery = make_delivery()

    result = analyse(delivery)

    assert reasons(delivery) == {
        first.pk: "",
        second.pk: "duplicate",
        third.pk: "duplicate",
    }
    assert result.excluded["duplicate"] == 2
    assert result.to_send == 1


def test_duplicate_email_addresses_differing_in_case_and_spaces_are_one_address(
    make_profile, make_delivery, reasons
):
    # Rows written before addresses were normalised on the way in.
    first = make_profile(email="Ann.Smith@Example.COM")
    second = make_profile(email=" ann.smith@example.com ")
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {first.pk: "", second.pk: "duplicate"}
    assert Recipient.objects.get(profile=first).address == "ann.smith@example.com"


def test_duplicate_phone_numbers_written_differently_are_one_number(
    make_profile, make_delivery, reasons
):
    first = make_profile(mobile_phone="+1 (202) 555-0142")
    second = make_profile(mobile_phone="+12025550142")
    third = make_profile(mobile_phone="+1.202.555.0142")
    delivery = make_delivery(channel="sms", subject="", body="News {{ first_name }}")

    analyse(delivery)

    assert reasons(delivery) == {
        first.pk: "",
        second.pk: "duplicate",
        third.pk: "duplicate",
    }
    assert Recipient.objects.get(profile=first).address == "+12025550142"


@pytest.mark.parametrize(
    ("phone", "reason"),
    [
        ("", "no_address"),
        ("2025550142", "invalid_address"),  # no country code: cannot be E.164
        ("+1202555014x", "invalid_address"),
        ("+0123456789", "invalid_address"),
        ("+12345", "invalid_address"),
        ("+4915112345678", ""),
    ],
)
def test_sms_analysis_checks_the_mobile_phone(
    make_profile, make_delivery, reasons, phone, reason
):
    profile = make_profile(email="has-email@example.com", mobile_phone=phone)
    delivery = make_delivery(channel="sms", subject="", body="Hi")

    analyse(delivery)

    assert reasons(delivery) == {profile.pk: reason}


def test_sms_analysis_uses_the_sms_opt_out_and_sms_quarantine(
    make_profile, make_delivery, denylist, reasons
):
    email_refused = make_profile(mobile_phone="+12025550101", email_opt_out=True)
    sms_refused = make_profile(mobile_phone="+12025550102", sms_opt_out=True)
    denied = make_profile(mobile_phone="+12025550103", email="d@example.com")
    denylist("d@example.com")  # the e-mail address, not the phone
    denylist("+12025550103", channel="sms")
    delivery = make_delivery(channel="sms", subject="", body="Hi")

    analyse(delivery)

    assert reasons(delivery) == {
        email_refused.pk: "",
        sms_refused.pk: "channel_opted_out",
        denied.pk: "denylisted",
    }


@pytest.mark.parametrize(
    ("profile_fields", "address_state", "reason"),
    [
        # Each pair: the first reason in DESIGN.md's order wins.
        ({"email": "", "no_longer_contact": True}, None, "no_address"),
        ({"email": "broken", "no_longer_contact": True}, None, "invalid_address"),
        (
            {
                "email": "a@example.com",
                "no_longer_contact": True,
                "email_opt_out": True,
            },
            "denylisted",
            "opted_out",
        ),
        (
            {"email": "a@example.com", "email_opt_out": True},
            "denylisted",
            "channel_opted_out",
        ),
        (
            {"email": "a@example.com", "email_opt_out": True},
            "quarantined",
            "channel_opted_out",
        ),
        ({"email": "a@example.com"}, "quarantined", "quarantined"),
    ],
)
def test_the_first_reason_that_applies_wins(
    make_profile,
    make_delivery,
    denylist,
    quarantine_address,
    reasons,
    profile_fields,
    address_state,
    reason,
):
    profile = make_profile(**profile_fields)
    if address_state == "denylisted":
        denylist(profile.email)
    elif address_state == "quarantined":
        quarantine_address(profile.email)
    delivery = make_delivery()

    result = analyse(delivery)

    assert reasons(delivery) == {profile.pk: reason}
    assert sum(result.excluded.values()) == 1


def test_profiles_sharing_a_quarantined_address_are_quarantined_not_duplicates(
    make_profile, make_delivery, quarantine_address, reasons
):
    first = make_profile(email="shared@example.com")
    second = make_profile(email="shared@example.com")
    quarantine_address("shared@example.com")
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {first.pk: "quarantined", second.pk: "quarantined"}


def test_a_duplicate_is_kept_when_the_lower_id_sharing_it_is_excluded_earlier(
    make_profile, make_delivery, reasons
):
    refused = make_profile(email="shared@example.com", no_longer_contact=True)
    kept = make_profile(email="shared@example.com")
    duplicate = make_profile(email="SHARED@example.com")
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {
        refused.pk: "opted_out",
        kept.pk: "",
        duplicate.pk: "duplicate",
    }


def test_two_profiles_one_opted_out_the_other_is_still_sent(
    make_profile, make_delivery, denylist, reasons
):
    refusing = make_profile(email="family@example.com")
    other = make_profile(email="family@example.com")
    record_opt_out(profile=refusing, channel="email", origin=Origin("operator"))
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {refusing.pk: "channel_opted_out", other.pk: ""}

    denylist("family@example.com")
    analyse(delivery)

    assert reasons(delivery) == {
        refusing.pk: "channel_opted_out",
        other.pk: "denylisted",
    }
    assert Delivery.objects.get(pk=delivery.pk).to_send_count == 0


def test_an_allowlisted_address_passes_the_quarantine_checks(
    make_profile, make_delivery, quarantine_address, allowlist, reasons
):
    ann = make_profile(email="ann@example.com")
    quarantine_address("ann@example.com")
    allowlist("ann@example.com")
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {ann.pk: ""}


def test_an_allowlisted_address_still_honours_opt_outs_and_duplicates(
    make_profile, make_delivery, allowlist, reasons
):
    refused = make_profile(email="vip@example.com", no_longer_contact=True)
    kept = make_profile(email="vip@example.com")
    duplicate = make_profile(email="vip@example.com")
    allowlist("vip@example.com")
    delivery = make_delivery()

    analyse(delivery)

    assert reasons(delivery) == {
        refused.pk: "opted_out",
        kept.pk: "",
        duplicate.pk: "duplicate",
    }


def test_duplicates_are_all_sent_when_the_option_is_off(
    make_profile, make_delivery, reasons
):
    first = make_profile(email="shared@example.com")
    second = make_profile(email="shared@example.com")
    delivery = make_delivery(exclude_duplicates=False)

    result = analyse(delivery)

    assert reasons(delivery) == {first.pk: "", second.pk: ""}
    assert result.excluded["duplicate"] == 0


def test_a_service_delivery_targets_only_its_subscribed_profiles(
    make_profile, make_delivery, newsletter, subscribe_to, reasons
):
    subscribed = make_profile(email="sub@example.com")
    left = make_profile(email="left@example.com")
    make_profile(email="never@example.com")
    subscribe_to(newsletter, subscribed, left)
    unsubscribe(profile=left, service=newsletter, origin=Origin("operator"))
    delivery = make_delivery(service=newsletter)

    result = analyse(delivery)

    assert reasons(delivery) == {subscribed.pk: ""}
    assert result.target == 1


def test_a_subscription_past_its_end_is_not_targeted(
    make_profile, make_delivery, newsletter, subscribe_to, reasons
):
    current = make_profile(email="current@example.com")
    ended = make_profile(email="ended@example.com")
    subscribe_to(newsletter, current, ended)
    # The expiry job has not run yet; the analysis must not wait for it.
    Subscription.objects.filter(profile=ended).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    delivery = make_delivery(service=newsletter)

    analyse(delivery)

    assert reasons(delivery) == {current.pk: ""}


def test_a_language_filter_narrows_the_target(make_profile, make_delivery, reasons):
    english = make_profile(email="en@example.com", language="en")
    make_profile(email="pt@example.com", language="pt-br")
    delivery = make_delivery(language="en")

    analyse(delivery)

    assert reasons(delivery) == {english.pk: ""}


def test_analysing_again_replaces_the_previous_result(
    make_profile, make_delivery, reasons, django_user_model
):
    ann = make_profile(email="ann@example.com")
    bob = make_profile(email="bob@example.com")
    delivery = make_delivery()
    analyse(delivery)
    record_opt_out(profile=ann, origin=Origin("operator"))
    carol = make_profile(email="carol@example.com")
    operator = django_user_model.objects.create_user("op", is_staff=True)

    result = analyse(delivery, operator=operator)

    assert reasons(delivery) == {ann.pk: "opted_out", bob.pk: "", carol.pk: ""}
    assert Recipient.objects.filter(delivery=delivery).count() == 3
    stored = Delivery.objects.get(pk=delivery.pk)
    assert stored.status == Delivery.Status.ANALYSED
    assert stored.analysed_by == operator
    assert (stored.target_count, stored.to_send_count) == (3, 2)
    assert stored.excluded_counts == {**dict.fromkeys(EVERY_KEY, 0), "opted_out": 1}
    assert result.as_contract()["excluded"] == stored.excluded_counts
    assert list(
        DeliveryEvent.objects.filter(delivery=delivery)
        .order_by("id")
        .values_list("action", "operator")
    ) == [("created", None), ("analysed", None), ("analysed", operator.pk)]


def test_analysing_one_delivery_leaves_another_delivery_result_alone(
    make_profile, make_delivery, reasons
):
    ann = make_profile(email="ann@example.com", mobile_phone="+12025550142")
    email = make_delivery()
    sms = make_delivery(channel="sms", subject="", body="Hi")
    analyse(email)

    analyse(sms)

    assert reasons(email) == {ann.pk: ""}
    assert reasons(sms) == {ann.pk: ""}
    assert Recipient.objects.get(delivery=sms).address == "+12025550142"


@pytest.mark.parametrize("status", [Delivery.Status.SENDING, Delivery.Status.SENT])
def test_a_delivery_being_sent_or_sent_cannot_be_analysed(
    make_profile, make_delivery, reasons, status
):
    ann = make_profile(email="ann@example.com")
    delivery = make_delivery()
    analyse(delivery)
    Delivery.objects.filter(pk=delivery.pk).update(status=status)
    make_profile(email="late@example.com")

    with pytest.raises(DeliveryStateError, match="cannot be analysed"):
        analyse(delivery)

    assert reasons(delivery) == {ann.pk: ""}


# Lock the delivery, delete the previous rows, INSERT ... SELECT, count by
# reason, save the delivery, write its event, and the savepoint around them.
QUERIES_TO_ANALYSE = 8


@pytest.mark.parametrize("size", [10, 200])
def test_the_number_of_queries_does_not_grow_with_the_target(
    make_profile, make_delivery, denylist, reasons, django_assert_num_queries, size
):
    for n in range(size):
        make_profile(
            email=f"person{n % (size // 2)}@example.com",
            no_longer_contact=(n % 7 == 0),
            email_opt_out=(n % 5 == 0),
        )
    denylist("person1@example.com")
    delivery = make_delivery()

    with django_assert_num_queries(QUERIES_TO_ANALYSE):
        result = analyse(delivery)

    assert result.target == size == len(reasons(delivery))
    assert result.excluded["duplicate"] > 0
