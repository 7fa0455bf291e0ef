"""The benchmark's bare SQL finds what the application finds."""

import pytest
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from delivery.actions import analyze_delivery
from delivery.analysis import baseline_statements
from delivery.models import Recipient

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not django_settings.IS_POSTGRES,
        reason="needs PostgreSQL: the baseline is PostgreSQL's bare SQL",
    ),
]


@pytest.fixture
def mixed_profiles(
    make_profile, newsletter, subscribe_to, denylist, quarantine_address
):
    profiles = [
        make_profile(email="ann@example.com", mobile_phone="+12025550101"),
        make_profile(email="ANN@example.com ", mobile_phone="+1 202 555 0101"),
        make_profile(email="", mobile_phone="2025550102"),
        make_profile(email="broken", no_longer_contact=True),
        make_profile(email="opt@example.com", email_opt_out=True, sms_opt_out=True),
        make_profile(email="deny@example.com", language="pt-br"),
        make_profile(email="gone@example.com", mobile_phone="+12025550103"),
        make_profile(email="ok@example.com", mobile_phone="+12025550104"),
    ]
    denylist("deny@example.com")
    quarantine_address("gone@example.com")
    denylist("+12025550104", channel="sms")
    subscribe_to(newsletter, *profiles[::2])
    return profiles


def _baseline(delivery, into):
    with transaction.atomic(), connection.cursor() as cursor:
        for sql, params in baseline_statements(delivery, now=timezone.now(), into=into):
            cursor.execute(sql, params)
        counts = dict(cursor.fetchall())
        transaction.set_rollback(True)
    return {key: value for key, value in counts.items() if value}


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"channel": "sms", "subject": ""},
        {"language": "en"},
        {"exclude_duplicates": False},
        {"service": "newsletter"},
    ],
)
@pytest.mark.parametrize("into", ["temporary", "recipients"])
def test_the_bare_sql_counts_every_reason_as_the_analysis_does(
    mixed_profiles, make_delivery, newsletter, fields, into
):
    if fields.get("service"):
        fields = {**fields, "service": newsletter}
    delivery = make_delivery(**fields)
    result = analyze_delivery(delivery=delivery)
    expected = {"": result.to_send, **result.excluded}
    Recipient.objects.filter(delivery=delivery).delete()

    assert _baseline(delivery, into) == {k: v for k, v in expected.items() if v}
