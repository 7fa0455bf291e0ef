"""import_bounces PATH... — apply bounce messages to the quarantine."""

import json
import logging
import time
from collections import Counter
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from delivery.quarantine.actions import apply_error, batched
from delivery.quarantine.bounces import (
    BounceReport,
    SourcedMessage,
    UnreadableMessage,
    iter_messages,
    read_report,
)
from delivery.quarantine.models import ErrorKind, StatusChange

logger = logging.getLogger(__name__)

# Messages applied per transaction: one commit per message would make a
# large import wait on the disk; one for everything would hold locks long.
MESSAGES_PER_TRANSACTION = 200
PROGRESS_EVERY = 1000


def printable(text: str) -> str:
    """Text safe to print: undecodable file names and bytes become '?'."""
    return text.encode("utf-8", "replace").decode("utf-8")


class Command(BaseCommand):
    help = (
        "Read bounce messages from .eml files, maildirs and mbox files, "
        "classify each failed recipient as hard, soft or ignored, and apply "
        "the quarantine rules. Messages that are not bounces (auto-replies, "
        "delivery successes, ordinary mail) change nothing; unreadable ones "
        "are reported and skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Read and classify only; change nothing.",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print one JSON object per message on stdout instead of a "
            "summary. It names the failed addresses.",
        )

    def handle(self, *args, **options):
        paths = options["paths"]
        missing = [path for path in paths if not Path(path).exists()]
        if missing:
            raise CommandError(
                "; ".join(
                    f"{printable(path)}: no such file or directory" for path in missing
                )
            )
        self.dry_run = options["dry_run"]
        self.as_json = options["json"]
        self.counts = Counter()
        started = time.monotonic()

        for batch in batched(iter_messages(paths), MESSAGES_PER_TRANSACTION):
            with transaction.atomic():
                for item in batch:
                    self._handle_message(item)
            read = self.counts["messages"]
            if read // PROGRESS_EVERY != (read - len(batch)) // PROGRESS_EVERY:
                self.stderr.write(
                    f"… {read:,} messages read ({time.monotonic() - started:.1f} s)"
                )

        seconds = time.monotonic() - started
        logger.info(
            "import_bounces: %s messages, %s bounces, %s not bounces, "
            "%s unreadable, %s errors applied, dry run %s, %.1f s",
            self.counts["messages"],
            self.counts["bounces"],
            self.counts["not_bounces"],
            self.counts["unreadable"],
            self.counts["applied"],
            self.dry_run,
            seconds,
        )
        if not self.as_json:
            self._print_summary(seconds)

    def _handle_message(self, item: SourcedMessage) -> None:
        self.counts["messages"] += 1
        source = printable(item.source)
        report = None
        if item.data is None:
            problem = item.error
        else:
            try:
                report = read_report(item.data)
                problem = ""
            except UnreadableMessage as exc:
                problem = str(exc)

        if report is None:
            self.counts["unreadable"] += 1
            self.stderr.write(f"{source}: unreadable, skipped: {problem}")
            if self.as_json:
                self._print_json(source, None)
            return

        if report.bounce:
            self.counts["bounces"] += 1
        else:
            self.counts["not_bounces"] += 1
            self.counts[f"verdict:{report.verdict}"] += 1
        for recipient in report.recipients:
            self.counts[f"kind:{recipient.kind}"] += 1

        if self.as_json:
            self._print_json(source, report)
        elif self.dry_run:
            self.stdout.write(f"{source}: {self._describe(report)}")

        if report.bounce and not self.dry_run:
            self._apply(report, item, source)

    def _apply(self, report: BounceReport, item: SourcedMessage, source: str) -> None:
        raw = item.data.decode("utf-8", "replace")
        for recipient in report.recipients:
            try:
                outcome = apply_error(
                    address=recipient.address,
                    channel="email",
                    kind=recipient.kind,
                    reason=recipient.reason,
                    source=StatusChange.Source.BOUNCE,
                    diagnostic=recipient.diagnostic,
                    status_code=recipient.status,
                    origin=source,
                    raw=raw,
                    message_id=report.message_id,
                    occurred_at=report.occurred_at,
                )
            except ValidationError:
                self.counts["invalid_address"] += 1
                continue
            if outcome.duplicate:
                self.counts["duplicate"] += 1
                continue
            self.counts["applied"] += 1
            if outcome.changed:
                self.counts[f"now:{outcome.address.status}"] += 1

    def _print_json(self, source: str, report: BounceReport | None) -> None:
        line = {
            "source": source,
            "bounce": bool(report and report.bounce),
            "recipients": [
                {key: printable(value) for key, value in r.as_dict().items()}
                for r in (report.recipients if report else ())
            ],
        }
        self.stdout.write(json.dumps(line, ensure_ascii=False))

    @staticmethod
    def _describe(report: BounceReport) -> str:
        if not report.bounce:
            return f"{report.verdict}, nothing to do"
        kinds = ", ".join(
            f"{r.kind} ({r.reason}{' ' + r.status if r.status else ''})"
            for r in report.recipients
        )
        return f"bounce: {kinds}"

    def _print_summary(self, seconds: float) -> None:
        c = self.counts
        kinds = ", ".join(f"{c[f'kind:{kind}']} {kind}" for kind in ErrorKind.values)
        verdicts = ", ".join(
            f"{c[key]} {key.split(':', 1)[1]}"
            for key in sorted(c)
            if key.startswith("verdict:")
        )
        write = self.stdout.write
        write(f"Read {c['messages']:,} messages in {seconds:.1f} s.")
        write(f"  bounces: {c['bounces']:,} (failed recipients: {kinds})")
        write(
            f"  not bounces: {c['not_bounces']:,}"
            + (f" ({verdicts})" if verdicts else "")
        )
        write(
            f"  unreadable: {c['unreadable']:,}"
            + (" (listed on stderr)" if c["unreadable"] else "")
        )
        if self.dry_run:
            write("Dry run: nothing was changed.")
            return
        write(
            f"Applied {c['applied']:,} errors; {c['duplicate']:,} were already "
            f"imported; {c['invalid_address']:,} invalid addresses skipped."
        )
        moved = ", ".join(
            f"{c[key]:,} now {key.split(':', 1)[1]}"
            for key in sorted(c)
            if key.startswith("now:")
        )
        write(f"Address status changes: {moved or 'none'}.")
