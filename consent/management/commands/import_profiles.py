import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from campaign.outages import connection_lost_is_a_command_error
from consent.imports import ImportRejected, import_profiles


class Command(BaseCommand):
    help = (
        "Import profiles, their consent and subscriptions from a CSV file. "
        "The whole file is checked first; nothing is written if a row is bad "
        "unless --skip-invalid is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="CSV file with a header row")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the good rows and list the bad ones.",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, file: Path, skip_invalid: bool, json: bool, **options):
        if not file.is_file():
            raise CommandError(f"{file}: no such file.")

        progress = None if json else self._progress
        lost = f"{file}: the database connection was lost; nothing was imported."
        try:
            with connection_lost_is_a_command_error(lost):
                result = import_profiles(
                    file, skip_invalid=skip_invalid, progress=progress
                )
        except ImportRejected as rejected:
            lines = "\n".join(f"  {file}: {error}" for error in rejected.errors)
            raise CommandError(
                f"{file}: nothing imported, {len(rejected.errors)} problem(s):\n{lines}"
            ) from None
        except OSError as exc:
            raise CommandError(f"{file}: cannot be read: {exc.strerror}.") from None

        if json:
            self.stdout.write(_dumps({"file": str(file), **result.as_dict()}))
            return
        summary = result.as_dict()
        self.stdout.write(
            f"{file}: {summary['rows']} rows, {summary['created']} profiles "
            f"created, {summary['updated']} updated, "
            f"{summary['consent_events']} consent changes, "
            f"{summary['subscriptions']} subscriptions started."
        )
        if result.skipped:
            self.stdout.write(f"Skipped {summary['skipped']} bad row(s):")
            for error in result.skipped:
                self.stdout.write(f"  {file}: {error}")

    def _progress(self, stage: str, done: int, total: int) -> None:
        sys.stderr.write(f"\r{stage}: {done:,}/{total:,}")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
