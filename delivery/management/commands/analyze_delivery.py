import json
import time

from django.core.management.base import BaseCommand, CommandError

from delivery.actions import DeliveryStateError, analyze_delivery
from delivery.management.commands._common import delivery_or_error
from delivery.models import Exclusion


class Command(BaseCommand):
    help = (
        "Analyse a delivery: classify every target profile, count the "
        "exclusions by reason and keep the recipients. Analysing again "
        "replaces the previous result."
    )

    def add_arguments(self, parser):
        parser.add_argument("id", type=int, help="The delivery's id.")
        parser.add_argument(
            "--json", action="store_true", help="Print the result as JSON."
        )

    def handle(self, *args, id: int, json: bool, **options):
        delivery = delivery_or_error(id)
        started = time.monotonic()

        def progress(step: str) -> None:
            elapsed = time.monotonic() - started
            self.stderr.write(f"[{elapsed:7.2f}s] {step}", style_func=str)

        try:
            result = analyze_delivery(delivery=delivery, progress=progress)
        except DeliveryStateError as exc:
            raise CommandError(f"Delivery {id}: {exc}") from None
        progress("Done")

        contract = result.as_contract()
        if json:
            self.stdout.write(_dumps(contract))
            return
        self.stdout.write(
            f"Delivery {id} ({contract['channel']}): {contract['target']} targeted, "
            f"{contract['to_send']} to send, analysed in {contract['seconds']}s."
        )
        for key, label in Exclusion.choices:
            self.stdout.write(f"  {str(label):<26} {contract['excluded'][key]:>10}")


def _dumps(data: dict) -> str:
    return json.dumps(data)
