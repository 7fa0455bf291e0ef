"""release_quarantine — bulk release after a provider outage."""

import json

from django.core.management.base import BaseCommand, CommandError

from delivery.quarantine.actions import release_outage
from delivery.quarantine.forms import OutageReleaseForm
from delivery.quarantine.selectors import outage_addresses


class Command(BaseCommand):
    help = (
        "Release the quarantined and with_errors addresses whose last error "
        "falls between --since and --until (dates include the whole day), "
        "optionally of one --domain and one --reason: what a provider outage "
        "put there. Denylisted addresses are never released here. Run with "
        "--dry-run first to see the count."
    )

    def add_arguments(self, parser):
        parser.add_argument("--domain", default="", help="For example gmail.com.")
        parser.add_argument("--reason", default="", help="For example unreachable.")
        parser.add_argument(
            "--since", required=True, help="YYYY-MM-DD or YYYY-MM-DDTHH:MM."
        )
        parser.add_argument(
            "--until", required=True, help="YYYY-MM-DD or YYYY-MM-DDTHH:MM."
        )
        parser.add_argument("--note", default="", help="Kept in the history.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the addresses; change nothing.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the result as JSON."
        )

    def handle(self, *args, **options):
        form = OutageReleaseForm(
            data={
                key: options[key]
                for key in ("domain", "reason", "since", "until", "note")
            }
        )
        if not form.is_valid():
            problems = "; ".join(
                f"--{field}: {' '.join(errors)}"
                for field, errors in form.errors.items()
            )
            raise CommandError(f"Nothing was released. {problems}")
        chosen = form.cleaned_data
        addresses = outage_addresses(
            since=chosen["since"],
            until=chosen["until"],
            domain=chosen["domain"],
            reason=chosen["reason"],
        )

        if options["dry_run"]:
            count = addresses.count()
        else:
            count = release_outage(addresses=addresses, note=chosen["note"])

        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "dry_run": options["dry_run"],
                        "released": count,
                        "domain": chosen["domain"],
                        "reason": chosen["reason"],
                        "since": chosen["since"].isoformat(),
                        "until": chosen["until"].isoformat(),
                    }
                )
            )
            return
        window = (
            f"last error between {chosen['since']:%Y-%m-%d %H:%M} and "
            f"{chosen['until']:%Y-%m-%d %H:%M}"
        )
        if options["dry_run"]:
            self.stdout.write(
                f"Would release {count} address(es) ({window}). "
                "Dry run: nothing was changed."
            )
        else:
            self.stdout.write(f"Released {count} address(es) ({window}).")
