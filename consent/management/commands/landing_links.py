import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from consent import links
from consent.models import Channel, Profile, Service


class Command(BaseCommand):
    help = (
        "Print the address of every landing page for one profile: a demo "
        "profile (the oldest with an e-mail address) unless --profile names "
        "one by its public id."
    )

    def add_arguments(self, parser):
        parser.add_argument("--profile", metavar="PUBLIC_ID", help="A public id.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, profile: str | None, json: bool, **options):
        person = self._profile(profile)
        if person is None:
            self.stdout.write(
                "No profiles yet, so no personal links: load some with "
                "`manage.py seed_demo` or `manage.py import_profiles FILE.csv`."
            )
            return

        services = list(Service.objects.filter(is_active=True).order_by("name"))
        pages = {
            "profile": str(person.public_id),
            "preferences": links.preferences_url(person),
            "stop_all": links.stop_all_url(person),
            "unsubscribe_email": links.unsubscribe_url(person, channel=Channel.EMAIL),
            "services": [
                {
                    "name": service.name,
                    "subscribe": (
                        links.subscribe_url(service)
                        if service.channel == Channel.EMAIL
                        else None
                    ),
                    "confirm": links.confirm_url(person, service),
                    "unsubscribe": links.unsubscribe_url(person, service=service),
                }
                for service in services
            ],
        }
        if json:
            self.stdout.write(_dumps(pages))
            return
        self._print(person, pages)

    def _profile(self, public_id: str | None) -> Profile | None:
        if public_id is None:
            people = Profile.objects.order_by("pk")
            return people.exclude(email="").first() or people.first()
        try:
            wanted = uuid.UUID(public_id.strip())
        except ValueError:
            raise CommandError(
                f"--profile: {public_id[:60]!r} is not a public id (a UUID)."
            ) from None
        person = Profile.objects.filter(public_id=wanted).first()
        if person is None:
            raise CommandError(f"--profile: no profile has the public id {wanted}.")
        return person

    def _print(self, person: Profile, pages: dict) -> None:
        write = self.stdout.write
        write(f"Landing pages of profile #{person.pk} ({person.language}):")
        write(f"  Preference centre       {pages['preferences']}")
        write(f"  Stop everything         {pages['stop_all']}")
        write(f"  Unsubscribe from e-mail {pages['unsubscribe_email']}")
        if not pages["services"]:
            write(
                "No active services yet: create one with `manage.py "
                "create_service NAME --label TEXT --channel email`."
            )
        for service in pages["services"]:
            write(f"Service {service['name']}:")
            if service["subscribe"]:
                write(f"  Subscribe (public)      {service['subscribe']}")
            write(f"  Confirm (if pending)    {service['confirm']}")
            write(f"  Unsubscribe / one-click {service['unsubscribe']}")
        write("")


def _dumps(data: dict) -> str:
    return json.dumps(data)
