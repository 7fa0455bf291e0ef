"""clean_quarantine — the upkeep of address statuses."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db.models import Count, Q
from django.utils import timezone

from delivery.quarantine.actions import lift_expired_errors
from delivery.quarantine.models import Reason
from delivery.quarantine.selectors import expired_error_addresses


class Command(BaseCommand):
    help = (
        "Return with_errors addresses to valid when their last error is "
        "older than QUARANTINE_ERROR_RESET_DAYS (QUARANTINE_MAILBOX_FULL_"
        "RESET_DAYS for a full mailbox). Quarantined and denylisted addresses "
        "are never lifted here. Meant to run daily from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count what would change; change nothing.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the result as JSON."
        )

    def handle(self, *args, **options):
        now = timezone.now()
        if options["dry_run"]:
            counts = expired_error_addresses(now=now).aggregate(
                mailbox_full=Count("pk", filter=Q(reason=Reason.MAILBOX_FULL)),
                other=Count("pk", filter=~Q(reason=Reason.MAILBOX_FULL)),
            )
        else:
            counts = lift_expired_errors(now=now)

        total = counts["mailbox_full"] + counts["other"]
        if options["json"]:
            self.stdout.write(
                json.dumps(
                    {"dry_run": options["dry_run"], "back_to_valid": total, **counts}
                )
            )
            return
        verb = "would return" if options["dry_run"] else "returned"
        self.stdout.write(
            f"{total} with_errors address(es) {verb} to valid: "
            f"{counts['other']} with no error for "
            f"{settings.QUARANTINE_ERROR_RESET_DAYS} days, "
            f"{counts['mailbox_full']} full mailbox(es) with none for "
            f"{settings.QUARANTINE_MAILBOX_FULL_RESET_DAYS} days."
            + (" Dry run: nothing was changed." if options["dry_run"] else "")
        )
