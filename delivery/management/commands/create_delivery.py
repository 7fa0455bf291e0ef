import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from consent.models import Service
from delivery.actions import create_delivery
from delivery.models import DeliveryChannel

# The option that sets each field, to name it in an error.
OPTIONS = {
    "label": "--label",
    "channel": "--channel",
    "service": "--service",
    "language": "--language",
    "subject": "--subject",
    "body": "--body",
}


class Command(BaseCommand):
    help = (
        "Create a draft delivery. Its target is a service's subscribed "
        "profiles (--service) or every profile, optionally in one language."
    )

    def add_arguments(self, parser):
        parser.add_argument("--label", required=True)
        parser.add_argument(
            "--channel", required=True, help=f"One of {', '.join(DeliveryChannel)}."
        )
        parser.add_argument("--service", help="Name of the service to send to.")
        parser.add_argument("--language", default="", help="e.g. en or pt-br.")
        parser.add_argument("--subject", default="", help="E-mail subject template.")
        parser.add_argument("--body", default="", help="E-mail body or SMS text.")
        parser.add_argument(
            "--keep-duplicates",
            action="store_true",
            help="Send to every profile sharing an address, not only the first.",
        )
        parser.add_argument("--json", action="store_true", help='Print {"id": N}.')

    def handle(self, *args, **options):
        service = None
        if options["service"]:
            service = Service.objects.filter(name=options["service"]).first()
            if service is None:
                raise CommandError(
                    f"--service: there is no service named {options['service']!r}."
                )
        try:
            delivery = create_delivery(
                label=options["label"],
                channel=options["channel"],
                service=service,
                language=options["language"],
                subject=options["subject"],
                body=options["body"],
                exclude_duplicates=not options["keep_duplicates"],
            )
        except ValidationError as exc:
            problems = [
                f"{OPTIONS.get(field, field)}: {message}"
                for field, messages in exc.message_dict.items()
                for message in messages
            ]
            raise CommandError("Nothing created. " + " ".join(problems)) from None

        if options["json"]:
            self.stdout.write(json.dumps({"id": delivery.pk}))
        else:
            self.stdout.write(str(delivery.pk))
