import json
import sys

from django.core.management.base import BaseCommand
from django.utils import timezone

from consent.actions import expire_subscriptions
from consent.selectors import subscriptions_due_to_end


class Command(BaseCommand):
    help = (
        "End every subscription past its service's validity, writing a "
        "ledger row (source 'expiry') for each. Meant for a daily cron job."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count the subscriptions that would end; change nothing.",
        )
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, dry_run: bool, json: bool, **options):
        now = timezone.now()
        if dry_run:
            count = subscriptions_due_to_end(now).count()
        else:
            count = expire_subscriptions(now=now, progress=self._progress)

        if json:
            self.stdout.write(_dumps({"expired": count, "dry_run": dry_run}))
        elif dry_run:
            self.stdout.write(f"{count} subscription(s) would end (dry run).")
        else:
            self.stdout.write(f"{count} subscription(s) ended.")

    def _progress(self, done: int) -> None:
        sys.stderr.write(f"\rexpired: {done:,}")
        sys.stderr.flush()


def _dumps(data: dict) -> str:
    return json.dumps(data)
