import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from campaign.outages import connection_lost_is_a_command_error
from consent.rights import ProfileNotFound, export_profile, find_profile


class Command(BaseCommand):
    help = (
        "Export everything held about one profile as JSON: the profile, its "
        "consent history, subscriptions, addresses' quarantine state and "
        "delivery history. For a person's request to see their data."
    )

    def add_arguments(self, parser):
        parser.add_argument("profile", help="The profile's public id or id.")
        parser.add_argument(
            "--output",
            type=Path,
            help="Write the JSON to this file instead of standard output.",
        )

    def handle(self, *args, profile: str, output: Path | None, **options):
        lost = "The database connection was lost; nothing was exported."
        with connection_lost_is_a_command_error(lost):
            try:
                found = find_profile(profile)
            except ProfileNotFound:
                raise CommandError(
                    f"No profile has the id or public id {profile[:80]!r}."
                ) from None
            document = export_profile(found)

        text = json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
        if output is None:
            self.stdout.write(text)
            return
        try:
            # Readable by its owner only: it holds one person's data.
            descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as exc:
            message = f"{output}: cannot be written: {exc.strerror}."
            raise CommandError(message) from None
        # The file holds personal data; the summary names only the record.
        self.stderr.write(f"Profile #{found.pk} exported to {output}.")
