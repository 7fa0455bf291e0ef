"""Analysis, sending and bounces while people change their minds.

Clients run at once as in test_concurrent_consent (threads with their own
connections on PostgreSQL, interleaved steps on SQLite). Analysis must see
one consistent snapshot, sending must honour every opt-out made before it
and send nobody two copies, and a bouncing address's history must stay
sound beside the consent ledger of the person who holds it.
"""

import random
from collections import Counter
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.db import transaction
from django.test import Client

from consent import actions
from consent.links import stop_all_url
from consent.models import ConsentEvent, Profile
from delivery import actions as delivery_actions
from delivery.models import Recipient
from delivery.quarantine import actions as quarantine_actions
from delivery.quarantine.models import Address, Bounce, StatusChange
from tests.hardening.conftest import run_clients
from tests.hardening.ledger import flag_problems, initial_flags

PAIRS = 20
FLIPPERS = 6
FLIPS = 15
ANALYSES = 8

OPERATOR = actions.Origin(source=ConsentEvent.Source.OPERATOR)


def make_people(count: int, **fields) -> list[Profile]:
    return Profile.objects.bulk_create(
        Profile(first_name=f"P{n}", email=f"person{n}@example.com", **fields)
        for n in range(count)
    )


def test_analysis_while_people_opt_out_sees_one_consistent_snapshot(
    transactional_db,
):
    # Pairs (A, B): exactly one of each pair refuses everything, always.
    # Each flip swaps a pair in one transaction, so any consistent snapshot
    # holds exactly PAIRS refusals, one per pair.
    people = make_people(2 * PAIRS)
    pairs = [(people[2 * i], people[2 * i + 1]) for i in range(PAIRS)]
    Profile.objects.filter(pk__in=[a.pk for a, _ in pairs]).update(
        no_longer_contact=True
    )
    delivery = delivery_actions.create_delivery(
        label="Snapshot", channel="email", subject="Hi", body="Hello"
    )
    seen: list[tuple[int, set[int]]] = []

    def flipper(number: int) -> Iterator[None]:
        rng = random.Random(number)
        for _flip in range(FLIPS):
            first, second = rng.choice(pairs)
            with transaction.atomic():
                # Both rows locked, in id order, before deciding which way
                # to swap them.
                locked = list(
                    Profile.objects.select_for_update()
                    .filter(pk__in=[first.pk, second.pk])
                    .order_by("pk")
                )
                refusing = next(p for p in locked if p.no_longer_contact)
                other = next(p for p in locked if not p.no_longer_contact)
                actions.record_opt_in(profile=refusing, origin=OPERATOR)
                actions.record_opt_out(profile=other, origin=OPERATOR)
            yield

    def analyser() -> Iterator[None]:
        for _run in range(ANALYSES):
            result = delivery_actions.analyze_delivery(delivery=delivery)
            refused = set(
                Recipient.objects.filter(
                    delivery=delivery, reason="opted_out"
                ).values_list("profile_id", flat=True)
            )
            seen.append((result.excluded["opted_out"], refused))
            yield

    errors = run_clients([analyser(), *(flipper(n) for n in range(FLIPPERS))], seed=11)

    assert errors == []
    assert len(seen) == ANALYSES
    for count, refused in seen:
        assert count == PAIRS
        assert all((a.pk in refused) != (b.pk in refused) for a, b in pairs)


@pytest.fixture
def quick_batches(settings):
    settings.DELIVERY_BATCH_SIZE = 4
    settings.DELIVERY_SEND_SLICE = 2


def test_sending_while_people_opt_out_honours_them_and_sends_each_message_once(
    transactional_db, smtp_server, quick_batches
):
    people = make_people(30)
    delivery = delivery_actions.create_delivery(
        label="Autumn news", channel="email", subject="Hi", body="Hello"
    )
    delivery_actions.analyze_delivery(delivery=delivery)
    # Opted out after the analysis, before the send: they must get nothing.
    before_sending = people[:5]
    for person in before_sending:
        actions.record_opt_out(profile=person, channel="email", origin=OPERATOR)
    during = people[5:]
    between_batches: list[int] = []
    unexpected: list[int] = []

    def opt_out_the_waiting(message: str) -> None:
        # Called by send_delivery after a batch, before the next: whoever is
        # still waiting and refuses now must not get the message.
        if not message.startswith("batch 1/"):
            return
        waiting = Recipient.objects.filter(
            delivery=delivery, status="pending"
        ).values_list("profile_id", flat=True)
        for profile_id in list(waiting)[:3]:
            actions.record_opt_out(
                profile=Profile(pk=profile_id), channel="email", origin=OPERATOR
            )
            between_batches.append(profile_id)

    def sender() -> Iterator[None]:
        delivery_actions.send_delivery(delivery=delivery, progress=opt_out_the_waiting)
        yield

    def person(number: int) -> Iterator[None]:
        rng = random.Random(number)
        browser = Client(raise_request_exception=False)
        for target in rng.sample(during, 5):
            response = browser.post(urlsplit(stop_all_url(target)).path)
            if response.status_code != 200:
                unexpected.append(response.status_code)
            yield

    errors = run_clients([sender(), *(person(n) for n in range(4))], seed=5)

    assert errors == []
    assert unexpected == []
    delivered = Counter(
        address
        for _sender, recipients in smtp_server.envelopes
        for address in recipients
    )
    assert all(count == 1 for count in delivered.values()), delivered
    assert not {p.email for p in before_sending} & set(delivered)
    statuses = Counter(
        Recipient.objects.filter(delivery=delivery).values_list("status", flat=True)
    )
    assert set(statuses) <= {"sent", "skipped"}
    assert statuses["sent"] == len(delivered)
    assert len(between_batches) == 3
    assert set(
        Recipient.objects.filter(
            delivery=delivery, profile_id__in=between_batches
        ).values_list("status", flat=True)
    ) == {"skipped"}
    late = Profile.objects.filter(pk__in=between_batches).values_list(
        "email", flat=True
    )
    assert not set(late) & set(delivered)


def test_bounces_opt_outs_and_operators_on_one_person_keep_both_histories_sound(
    transactional_db,
):
    ana = Profile.objects.create(first_name="Ana", email="ana.busy@example.com")
    initial = initial_flags(ana)
    recorded = Counter()

    def client(number: int) -> Iterator[None]:
        rng = random.Random(300 + number)
        for step in range(30):
            kind = rng.choice(["soft", "hard", "success", "denylist", "release", "opt"])
            if kind in ("soft", "hard"):
                quarantine_actions.record_error(
                    address=ana.email,
                    channel="email",
                    kind=kind,
                    reason="mailbox_full" if kind == "soft" else "user_unknown",
                    source=StatusChange.Source.BOUNCE,
                    message_id=f"<{number}.{step}@mx.example>",
                )
                recorded["bounces"] += 1
            elif kind == "success":
                quarantine_actions.record_success(address=ana.email, channel="email")
            elif kind == "denylist":
                quarantine_actions.denylist_address(
                    address=ana.email,
                    channel="email",
                    source=StatusChange.Source.OPERATOR,
                )
            elif kind == "release":
                quarantine_actions.release_address(
                    address=ana.email,
                    channel="email",
                    source=StatusChange.Source.OPERATOR,
                )
            else:
                actions.set_opt_out(
                    profile=Profile(pk=ana.pk),
                    channel=rng.choice([None, "email"]),
                    opted_out=rng.random() < 0.5,
                    origin=OPERATOR,
                )
            yield

    errors = run_clients([client(n) for n in range(8)], seed=9)

    assert errors == []
    address = Address.objects.get(address=ana.email)
    assert Address.objects.filter(address=ana.email).count() == 1
    assert Bounce.objects.filter(address=address).count() == recorded["bounces"]
    changes = list(address.status_changes.order_by("id"))
    assert changes, "the address never changed status"
    assert changes[-1].new_status == address.status
    assert all(
        later.old_status == earlier.new_status
        for earlier, later in zip(changes, changes[1:], strict=False)
    )
    assert flag_problems(ana, initial) == []
