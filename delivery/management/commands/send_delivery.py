import contextlib
import json
import sys
import time
from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError

from delivery.actions import DeliveryStateError, send_delivery
from delivery.management.commands._common import delivery_or_error
from delivery.models import Delivery
from delivery.sending import SendingStopped, preview_send


class Command(BaseCommand):
    help = (
        "Send an analysed delivery. Consent and quarantine are checked again "
        "for each batch; nobody gets a second copy, so an interrupted run "
        "can simply be started again."
    )

    def add_arguments(self, parser):
        parser.add_argument("id", type=int, help="The delivery's id.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Count who would be sent and skipped now; send nothing.",
        )
        parser.add_argument(
            "--json", action="store_true", help="Print the result as JSON."
        )

    def handle(self, *args, id: int, dry_run: bool, json: bool, **options):
        delivery = delivery_or_error(id)
        if dry_run:
            self._preview(delivery, json)
            return

        started = time.monotonic()

        def progress(step: str) -> None:
            elapsed = time.monotonic() - started
            self.stderr.write(f"[{elapsed:7.2f}s] {step}", style_func=str)

        # Development backends print each message on stdout; with --json,
        # stdout is kept for the JSON alone.
        quiet = contextlib.redirect_stdout(sys.stderr) if json else nullcontext()
        try:
            with quiet:
                result = send_delivery(delivery=delivery, progress=progress)
        except DeliveryStateError as exc:
            raise CommandError(f"Delivery {id}: {exc}") from None
        except SendingStopped as exc:
            raise CommandError(
                f"Delivery {id}: sending stopped. {exc} The recipients not yet "
                f"sent are kept; run send_delivery {id} again to go on."
            ) from None

        if json:
            self.stdout.write(_dumps(result.as_json()))
            return
        if result.queued_batches:
            self.stdout.write(
                f"Delivery {id}: {result.queued_batches} batches queued for the "
                "Celery workers; the delivery's page shows their progress."
            )
            return
        self.stdout.write(
            f"Delivery {id}: {result.sent} sent, {result.failed} failed, "
            f"{result.skipped} skipped in {result.seconds:.1f}s; "
            f"it is {result.delivery.get_status_display().lower()}."
        )

    def _preview(self, delivery: Delivery, json: bool) -> None:
        if delivery.status not in (Delivery.Status.ANALYSED, Delivery.Status.SENDING):
            raise CommandError(
                f"Delivery {delivery.pk}: only an analysed delivery can be sent; "
                f"this one is {delivery.get_status_display().lower()}."
            )
        preview = preview_send(delivery)
        if json:
            self.stdout.write(
                _dumps({"delivery": delivery.pk, "dry_run": True, **preview})
            )
            return
        self.stdout.write(
            f"Delivery {delivery.pk}: {preview['to_send']} would be sent now; "
            f"nothing was sent."
        )
        for reason, count in preview["skipped"].items():
            self.stdout.write(f"  skipped, {reason}: {count}")


def _dumps(data: dict) -> str:
    return json.dumps(data)
