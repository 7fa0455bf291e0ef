"""Many people, operators and jobs changing one profile's consent at once.

On PostgreSQL every client is a thread with its own connection, released
together so their transactions overlap; on SQLite the same steps are
interleaved in one thread (see run_clients). Afterwards each consent flag
and subscription must be what its last ledger row says, the ledger must
hold exactly one row per change, and nobody may have seen an error page.
"""

import random
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from consent import actions
from consent.forms import form_started_token
from consent.imports import import_profiles
from consent.links import (
    confirm_url,
    preferences_url,
    stop_all_url,
    unsubscribe_url,
)
from consent.models import Channel, ConsentEvent, Profile, Service, Subscription
from tests.hardening.conftest import run_clients
from tests.hardening.forms import profile_form_data
from tests.hardening.ledger import flag_problems, initial_flags, subscription_problems

CLIENTS = 12
STEPS = 40
CHANNELS = [None, *Channel.values]
ADDRESS = "shared.person@example.com"


def path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def person(transactional_db) -> Profile:
    return Profile.objects.create(
        first_name="Ana", external_id="ana-1", email=ADDRESS, sms_opt_out=True
    )


@pytest.fixture
def news(transactional_db) -> Service:
    return Service.objects.create(name="news", label="News")


@pytest.fixture
def alerts(transactional_db) -> Service:
    return Service.objects.create(name="alerts", label="Alerts", double_opt_in=True)


@pytest.fixture(autouse=True)
def mail_in_memory(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def operator_origin(client: int) -> actions.Origin:
    return actions.Origin(
        source=ConsentEvent.Source.OPERATOR, note=f"concurrency client {client}"
    )


def test_concurrent_opt_outs_and_opt_ins_lose_no_ledger_row(person):
    initial = initial_flags(person)
    changes = [0] * CLIENTS

    def client(number: int) -> Iterator[None]:
        rng = random.Random(number)
        mine = Profile.objects.filter(pk=person.pk)
        for _step in range(STEPS):
            channel = rng.choice(CHANNELS)
            opted_out = rng.random() < 0.5
            kind = rng.randrange(4)
            if kind == 0:
                changed = actions.set_opt_out(
                    profile=Profile(pk=person.pk),
                    channel=channel,
                    opted_out=opted_out,
                    origin=operator_origin(number),
                )
            elif kind == 1:
                record = actions.record_opt_out if opted_out else actions.record_opt_in
                changed = record(
                    profile=Profile(pk=person.pk),
                    channel=channel,
                    origin=operator_origin(number),
                )
            elif kind == 2:
                changed = actions.bulk_set_opt_out(
                    profiles=mine,
                    channel=channel,
                    opted_out=opted_out,
                    origin=operator_origin(number),
                )
            else:
                changed = actions.unsubscribe_by_link(
                    public_id=person.public_id,
                    service_id=None,
                    channel=rng.choice(Channel.values),
                    origin=actions.Origin(source=ConsentEvent.Source.ONE_CLICK),
                )
            changes[number] += int(changed)
            yield

    errors = run_clients([client(n) for n in range(CLIENTS)])

    assert errors == []
    written = ConsentEvent.objects.filter(
        profile=person, action__in=["opt_out", "opt_in"]
    ).count()
    assert written == sum(changes) > 0
    assert flag_problems(person, initial) == []


def test_people_operators_and_imports_at_once_see_no_error_and_agree_with_ledger(
    person, news, consent_operator, tmp_path
):
    subscription = Subscription.objects.create(
        profile=person, service=news, status=Subscription.Status.UNSUBSCRIBED
    )
    initial = initial_flags(person)
    unexpected: list[tuple[str, int]] = []

    def expect(kind: str, response, status: int) -> None:
        if response.status_code != status:
            unexpected.append((kind, response.status_code))

    def client(number: int) -> Iterator[None]:
        rng = random.Random(1000 + number)
        browser = Client(raise_request_exception=False)
        operator = Client(raise_request_exception=False)
        operator.force_login(consent_operator)
        for step in range(STEPS):
            kind = rng.choice(
                [
                    "stop_all",
                    "preferences",
                    "one_click",
                    "unsubscribe_page",
                    "admin",
                    "subscribe",
                    "unsubscribe",
                    "import",
                ]
            )
            if kind == "stop_all":
                expect(kind, browser.post(path(stop_all_url(person))), 200)
            elif kind == "preferences":
                choices = {
                    f"channel_{channel}": "on"
                    for channel in Channel.values
                    if rng.random() < 0.5
                }
                if rng.random() < 0.5:
                    choices[f"service_{news.pk}"] = "on"
                if rng.random() < 0.2:
                    choices["no_longer_contact"] = "on"
                response = browser.post(path(preferences_url(person)), choices)
                expect(kind, response, 200)
            elif kind == "one_click":
                url = unsubscribe_url(person, service=news)
                response = browser.post(path(url), {"List-Unsubscribe": "One-Click"})
                expect(kind, response, 200)
            elif kind == "unsubscribe_page":
                url = unsubscribe_url(person, channel=rng.choice(["email", "sms"]))
                scope = rng.choice(["channel", "everything"])
                expect(kind, browser.post(path(url), {"scope": scope}), 200)
            elif kind == "admin":
                current = Profile.objects.get(pk=person.pk)
                field = rng.choice(["email_opt_out", "sms_opt_out", "push_opt_out"])
                data = profile_form_data(current, **{field: rng.random() < 0.5})
                url = reverse("admin:consent_profile_change", args=[person.pk])
                expect(kind, operator.post(url, data), 302)
            elif kind == "subscribe":
                actions.subscribe(
                    profile=Profile(pk=person.pk),
                    service=news,
                    origin=operator_origin(number),
                )
            elif kind == "unsubscribe":
                actions.unsubscribe(
                    profile=Profile(pk=person.pk),
                    service=news,
                    origin=operator_origin(number),
                )
            else:
                flag = "yes" if rng.random() < 0.5 else "no"
                csv = Path(tmp_path / f"client-{number}-{step}.csv")
                csv.write_text(
                    "external_id,email,email_opt_out,services\n"
                    f"ana-1,{ADDRESS},{flag},news\n",
                    encoding="utf-8",
                )
                import_profiles(csv)
            yield

    errors = run_clients([client(n) for n in range(CLIENTS)], seed=7)

    assert errors == []
    assert unexpected == []
    assert flag_problems(person, initial) == []
    assert subscription_problems(subscription) == []
    assert Subscription.objects.filter(profile=person).count() == 1


def test_first_subscriptions_racing_each_other_all_succeed_with_one_row(person, news):
    statuses: list[str] = []

    def client(number: int) -> Iterator[None]:
        subscription = actions.subscribe(
            profile=Profile.objects.get(pk=person.pk),
            service=news,
            origin=operator_origin(number),
        )
        statuses.append(subscription.status)
        yield

    errors = run_clients([client(n) for n in range(CLIENTS)])

    assert errors == []
    assert statuses == ["subscribed"] * CLIENTS
    assert Subscription.objects.get(profile=person, service=news).status == (
        "subscribed"
    )
    assert ConsentEvent.objects.filter(service=news, action="subscribe").count() == 1


def test_one_person_sending_the_public_form_many_times_at_once_sees_no_error(
    person, alerts
):
    unexpected: list[int] = []

    def client(number: int) -> Iterator[None]:
        browser = Client(raise_request_exception=False)
        response = browser.post(
            reverse("consent:subscribe", args=[alerts.name]),
            {
                "email": ADDRESS,
                "agree": "on",
                "website": "",
                "started": form_started_token(at=time.time() - 60),
            },
        )
        if response.status_code != 200:
            unexpected.append(response.status_code)
        yield

    errors = run_clients([client(n) for n in range(CLIENTS)])

    assert errors == []
    assert unexpected == []
    assert Profile.objects.filter(email=ADDRESS).count() == 1
    assert Subscription.objects.get(service=alerts).status == "pending"
    assert (
        ConsentEvent.objects.filter(service=alerts, action="subscribe_pending").count()
        == 1
    )


def test_many_sign_ups_of_one_new_address_at_once_create_one_profile(alerts):
    new_address = "brand.new@example.com"
    unexpected: list[int] = []

    def client(number: int) -> Iterator[None]:
        browser = Client(raise_request_exception=False)
        response = browser.post(
            reverse("consent:subscribe", args=[alerts.name]),
            {
                "email": new_address,
                "first_name": f"Signer {number}",
                "agree": "on",
                "website": "",
                "started": form_started_token(at=time.time() - 60),
            },
        )
        if response.status_code != 200:
            unexpected.append(response.status_code)
        yield

    errors = run_clients([client(n) for n in range(CLIENTS)])

    assert errors == []
    assert unexpected == []
    assert Profile.objects.filter(email=new_address).count() == 1
    assert Subscription.objects.filter(service=alerts).count() == 1


def test_confirming_while_changing_preferences_sees_no_error_page(person, alerts):
    subscription = actions.subscribe(
        profile=person,
        service=alerts,
        origin=operator_origin(0),
        double_opt_in=True,
    )
    initial = initial_flags(Profile.objects.get(pk=person.pk))
    unexpected: list[tuple[str, int]] = []

    def client(number: int) -> Iterator[None]:
        rng = random.Random(2000 + number)
        browser = Client(raise_request_exception=False)
        for _step in range(STEPS // 2):
            if number % 2:
                response = browser.post(path(confirm_url(person, alerts)))
                kind = "confirm"
            else:
                choices = {
                    f"channel_{channel}": "on"
                    for channel in Channel.values
                    if rng.random() < 0.5
                }
                if rng.random() < 0.5:
                    choices[f"service_{alerts.pk}"] = "on"
                response = browser.post(path(preferences_url(person)), choices)
                kind = "preferences"
            if response.status_code != 200:
                unexpected.append((kind, response.status_code))
            yield

    errors = run_clients([client(n) for n in range(CLIENTS)], seed=3)

    assert errors == []
    assert unexpected == []
    assert flag_problems(person, initial) == []
    assert subscription_problems(subscription) == []
