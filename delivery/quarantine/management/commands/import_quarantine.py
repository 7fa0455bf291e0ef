"""import_quarantine FILE.csv — set address statuses from a file."""

import json

from django.core.management.base import BaseCommand, CommandError

from delivery.quarantine.actions import import_statuses
from delivery.quarantine.imports import FileProblem, read_status_file


class Command(BaseCommand):
    help = (
        "Set the quarantine status of addresses from a CSV file with the "
        "columns address, channel, status and (optional) reason. The whole "
        "file is validated first: any bad row stops the import and nothing "
        "is written, unless --skip-invalid is given. Every change is "
        "recorded with source 'import'."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE.csv")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows and list the others.",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate only; change nothing.",
        )
        parser.add_argument(
            "--note", default="", help="A note kept with every status change."
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the result as JSON."
        )

    def handle(self, *args, **options):
        path = options["file"]
        try:
            parsed = read_status_file(path)
        except FileProblem as exc:
            raise CommandError(f"{path}: {exc}. Nothing was imported.") from None

        if parsed.errors and not options["skip_invalid"]:
            listing = "\n".join(f"{path}: {error}" for error in parsed.errors)
            raise CommandError(
                f"{path}: {len(parsed.errors)} invalid row(s); nothing was "
                f"imported (use --skip-invalid to import the others):\n{listing}"
            )
        for error in parsed.errors:
            self.stderr.write(f"{path}: {error} (skipped)")

        if options["dry_run"]:
            result = {"created": 0, "changed": 0, "unchanged": 0}
        else:
            counts = import_statuses(rows=parsed.rows, note=options["note"])
            result = {
                "created": counts.created,
                "changed": counts.changed,
                "unchanged": counts.unchanged,
            }

        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {
                        "file": path,
                        "dry_run": options["dry_run"],
                        "valid_rows": len(parsed.rows),
                        **result,
                        "skipped": [error.as_dict() for error in parsed.errors],
                    }
                )
            )
            return
        if options["dry_run"]:
            self.stdout.write(
                f"{path}: {len(parsed.rows)} valid row(s), "
                f"{len(parsed.errors)} invalid. Dry run: nothing was changed."
            )
            return
        self.stdout.write(
            f"{path}: {result['created']} address(es) added, {result['changed']} "
            f"changed, {result['unchanged']} already as listed; "
            f"{len(parsed.errors)} invalid row(s) skipped."
        )
