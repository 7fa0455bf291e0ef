import random
import sys

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from consent.models import OPT_OUT_FIELDS, ConsentEvent, Profile, Service, Subscription

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
        self.stdout.write(f"Loaded {profiles} demo profiles.")

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
