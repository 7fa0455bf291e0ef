import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError, transaction

from consent.links import subscribe_url
from consent.models import Channel, Service

# Where each model field comes from on the command line, for messages.
OPTION_OF_FIELD = {
    "name": "NAME",
    "label": "--label",
    "channel": "--channel",
    "description": "--description",
    "validity_days": "--validity-days",
    "consent_wording": "--wording",
    "double_opt_in": "--double-opt-in",
}


class Command(BaseCommand):
    help = (
        "Create a service people can subscribe to, e.g. a newsletter. "
        "NAME is its short unique name, also the end of its subscribe page's "
        "address (letters, digits, - and _)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("--label", required=True, help="Name shown to people.")
        parser.add_argument(
            "--channel",
            required=True,
            choices=Channel.values,
            help="The channel it is sent on.",
        )
        parser.add_argument(
            "--double-opt-in",
            action="store_true",
            help="Ask people who subscribe on the landing page to confirm by e-mail.",
        )
        parser.add_argument("--description", default="", help="Shown to people.")
        parser.add_argument(
            "--validity-days",
            type=int,
            default=None,
            help="A subscription ends by itself after this many days; "
            "unlimited when left out.",
        )
        parser.add_argument(
            "--wording",
            default="",
            help="The sentence people agree to when subscribing; a standard "
            "one is shown when left out.",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, **options):
        service = Service(
            name=options["name"].strip(),
            label=options["label"].strip(),
            channel=options["channel"],
            double_opt_in=options["double_opt_in"],
            description=options["description"].strip(),
            validity_days=options["validity_days"],
            consent_wording=options["wording"].strip(),
        )
        try:
            service.full_clean()
            with transaction.atomic():
                service.save()
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        except IntegrityError:
            # Another process created the same name since full_clean looked.
            raise CommandError(
                f"NAME: a service named {service.name!r} already exists."
            ) from None

        page = subscribe_url(service) if service.channel == Channel.EMAIL else None
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {"id": service.pk, "name": service.name, "subscribe_url": page}
                )
            )
            return
        self.stdout.write(
            f"Created service {service.name!r} (#{service.pk}) on "
            f"{service.channel}"
            f"{', double opt-in' if service.double_opt_in else ''}."
        )
        if page:
            self.stdout.write(f"Subscribe page: {page}")


def _describe(error: ValidationError) -> str:
    """One line per bad option, named as the user typed it."""
    lines = []
    for field, messages in error.message_dict.items():
        option = OPTION_OF_FIELD.get(field, field)
        lines.extend(f"{option}: {message}" for message in messages)
    return "\n".join(lines)
