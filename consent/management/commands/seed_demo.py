import random
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from consent.models import OPT_OUT_FIELDS, ConsentEvent, Profile, Service, Subscription
from delivery.actions import analyze_delivery, create_delivery
from delivery.quarantine.actions import denylist_address, record_error
from delivery.quarantine.models import ErrorKind, Reason, StatusChange

FIRST_NAMES = [
    "Ana", "Bruno", "Carla", "Daniel", "Elena", "Felipe", "Gabriela", "Hugo",
    "Isabel", "João", "Karen", "Lucas", "Mariana", "Nina", "Oscar", "Paula",
    "Rafael", "Sofia", "Tiago", "Vera", "Alice", "Ben", "Chloe", "David",
    "Emma", "Frank", "Grace", "Henry", "Ivy", "Jack",
]  # fmt: skip
LAST_NAMES = [
    "Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira", "Almeida",
    "Ferreira", "Rodrigues", "Lima", "Smith", "Johnson", "Brown", "Taylor",
    "Miller", "Wilson", "Moore", "Clark", "Walker", "Young",
]  # fmt: skip
DEMO_SERVICES = [
    ("newsletter", "Monthly newsletter", "email", "News and offers once a month."),
    ("alerts", "Price alerts", "sms", "A text message when a price drops."),
]
BATCH = 5000


class Command(BaseCommand):
    help = (
        "Load demo profiles with a realistic mix of opt-outs, shared "
        "addresses and subscriptions."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profiles", type=int, default=300)
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when profiles exist already (for `make run`).",
        )
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, profiles: int, if_empty: bool, seed: int, **options):
        if profiles < 1 or profiles > 5_000_000:
            raise CommandError("--profiles must be between 1 and 5,000,000.")
        if if_empty and Profile.objects.exists():
            self.stdout.write("Demo data already loaded; keeping it.")
            return

        rng = random.Random(seed)
        with transaction.atomic():
            services = self._services()
            start = (
                Profile.objects.order_by("-pk").values_list("pk", flat=True).first()
                or 0
            )
            created = 0
            while created < profiles:
                size = min(BATCH, profiles - created)
                batch = [self._profile(rng, start + created + i) for i in range(size)]
                Profile.objects.bulk_create(batch)
                self._ledger_and_subscriptions(rng, batch, services)
                created += size
                if profiles > BATCH:
                    sys.stderr.write(f"\rprofiles: {created:,}/{profiles:,}")
            if profiles > BATCH:
                sys.stderr.write("\n")
        quarantined = self._quarantine(rng)
        delivery = self._delivery(services[0])
        self.stdout.write(
            f"Loaded {profiles} demo profiles, {quarantined} bad addresses and "
            f"an analysed delivery (#{delivery.pk})."
        )

    def _quarantine(self, rng: random.Random) -> int:
        """Bounce a few demo addresses and denylist the shared one.

        Goes through the quarantine actions, one address at a time, so it is
        capped: demo data, not a benchmark (make bench seeds set-based).
        """
        emails = list(
            Profile.objects.exclude(email="")
            .order_by("pk")
            .values_list("email", flat=True)
            .distinct()[:5000]
        )
        picked = rng.sample(emails, k=min(len(emails), max(1, len(emails) // 50)))
        for address in picked[:200]:
            record_error(
                address=address,
                channel="email",
                kind=ErrorKind.HARD,
                reason=Reason.USER_UNKNOWN,
                source=StatusChange.Source.BOUNCE,
                status_code="5.1.1",
                diagnostic="550 5.1.1 <demo>: Recipient address rejected: "
                "User unknown in virtual mailbox table (demo data)",
            )
        if "family.home@example.com" in emails:
            denylist_address(
                address="family.home@example.com",
                channel="email",
                source=StatusChange.Source.OPERATOR,
                note="Demo data: a shared household address that complained.",
            )
        return min(len(picked), 200)

    def _delivery(self, newsletter: Service):
        delivery = create_delivery(
            label="Demo: monthly newsletter",
            channel="email",
            service=newsletter,
            subject="Your monthly news, {{ first_name }}",
            body=(
                "Hello {{ first_name }},\n\nHere is what is new this month.\n\n"
                "Unsubscribe: {{ unsubscribe_url }}"
            ),
        )
        analyze_delivery(delivery=delivery)
        return delivery

    def _services(self) -> list[Service]:
        services = []
        for name, label, channel, description in DEMO_SERVICES:
            service, _created = Service.objects.get_or_create(
                name=name,
                defaults={
                    "label": label,
                    "channel": channel,
                    "description": description,
                    "consent_wording": f"I want to receive the {label.lower()}.",
                },
            )
            services.append(service)
        return services

    def _profile(self, rng: random.Random, n: int) -> Profile:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        roll = rng.random()
        # About 1% share an address with a household member.
        local = "family.home" if roll < 0.01 else f"{first}.{last}.{n}"
        email = "" if rng.random() < 0.02 else f"{local}@example.com".lower()
        phone = "" if rng.random() < 0.3 else f"+1415555{n % 10000:04d}"
        flags = {
            "no_longer_contact": rng.random() < 0.03,
            "email_opt_out": rng.random() < 0.04,
            "sms_opt_out": rng.random() < 0.02,
        }
        return Profile(
            first_name=first,
            last_name=last,
            language="pt-br" if rng.random() < 0.3 else "en",
            email=email,
            mobile_phone=phone,
            **flags,
        )

    def _ledger_and_subscriptions(self, rng, batch, services) -> None:
        events, subscriptions = [], []
        for profile in batch:
            for field, channel in [("no_longer_contact", None)] + [
                (field, channel) for channel, field in OPT_OUT_FIELDS.items()
            ]:
                if getattr(profile, field):
                    events.append(
                        ConsentEvent(
                            profile=profile,
                            action=ConsentEvent.Action.OPT_OUT,
                            channel=channel or "",
                            source=ConsentEvent.Source.IMPORT,
                            note="Demo data",
                        )
                    )
            for service in services:
                if rng.random() < 0.6:
                    subscriptions.append(
                        Subscription(
                            profile=profile,
                            service=service,
                            status=Subscription.Status.SUBSCRIBED,
                            subscribed_at=timezone.now(),
                        )
                    )
                    events.append(
                        ConsentEvent(
                            profile=profile,
                            action=ConsentEvent.Action.SUBSCRIBE,
                            service=service,
                            channel=service.channel,
                            source=ConsentEvent.Source.IMPORT,
                            note="Demo data",
                        )
                    )
        Subscription.objects.bulk_create(subscriptions)
        ConsentEvent.objects.bulk_create(events)
