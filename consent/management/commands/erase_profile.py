import json

from django.core.management.base import BaseCommand, CommandError

from campaign.outages import connection_lost_is_a_command_error
from consent.rights import ProfileNotFound, erase_profile, find_profile, plan_erasure


class Command(BaseCommand):
    help = (
        "Erase a profile on the person's request. Without --yes, only shows "
        "what would be erased. The consent ledger keeps its rows without IP "
        "address and user agent, and records the erasure."
    )

    def add_arguments(self, parser):
        parser.add_argument("profile", help="The profile's public id or id.")
        parser.add_argument(
            "--yes", action="store_true", help="Erase; without it, a dry run."
        )
        parser.add_argument("--note", default="", help="Kept in the ledger row.")
        parser.add_argument("--json", action="store_true", help="Print JSON.")

    def handle(self, *args, profile: str, yes: bool, note: str, json: bool, **opts):
        lost = "The database connection was lost; nothing was erased."
        with connection_lost_is_a_command_error(lost):
            try:
                found = find_profile(profile)
            except ProfileNotFound:
                raise CommandError(
                    f"No profile has the id or public id {profile[:80]!r}."
                ) from None
            if yes:
                erasure = erase_profile(profile=found, note=note)
            else:
                erasure = plan_erasure(found)

        if json:
            self.stdout.write(_dumps(erasure.as_dict()))
            return
        verb = "erased" if erasure.done else "would be erased (dry run)"
        self.stdout.write(
            f"Profile #{erasure.profile_id} {verb}: "
            f"{erasure.consent_events_anonymised} consent ledger rows "
            "anonymised (IP address and user agent removed), "
            f"{erasure.subscriptions_deleted} subscriptions and "
            f"{erasure.delivery_records_deleted} delivery records deleted."
        )
        for kept in erasure.addresses_kept:
            self.stdout.write(
                f"  Kept: the {kept['channel']} address's quarantine state "
                f"({kept['status']}), shared with any profile holding it."
            )
        if not erasure.done:
            self.stdout.write("Run again with --yes to erase.")


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
