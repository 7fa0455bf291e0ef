"""Data rights: everything held about one person, and erasure on request.

An export is a JSON document made of sections. The consent app builds the
profile, its consent history and its subscriptions; the addresses and
deliveries sections read the quarantine and delivery apps through their
selectors. Another app may replace a section, or add one, with
`register_section` from its AppConfig.ready, the way panels are added to
the profile page (consent.panels).

Erasure deletes the profile; its subscriptions and delivery records go
with it (their foreign keys cascade). Its consent ledger rows stay, cut
loose from the profile and stripped of the IP address and user agent, and
one more row records that the erasure happened, with nothing personal in
it.
"""

import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from consent.models import ConsentEvent, Profile, Subscription

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "consent-console/profile-export/1"

# The profile's own fields, in the order an export lists them.
PROFILE_FIELDS = (
    "id",
    "public_id",
    "external_id",
    "first_name",
    "last_name",
    "language",
    "email",
    "mobile_phone",
    "postal_address",
    "no_longer_contact",
    "email_opt_out",
    "sms_opt_out",
    "phone_opt_out",
    "direct_mail_opt_out",
    "push_opt_out",
    "created_at",
    "updated_at",
)

SectionBuilder = Callable[[Profile], Any]


@dataclass(frozen=True)
class Section:
    """One part of an export: its key in the document and how to build it."""

    key: str
    build: SectionBuilder
    order: int = 100


_sections: dict[str, Section] = {}


def register_section(section: Section) -> None:
    """Add a section to every export; registering a key again replaces it."""
    _sections[section.key] = section


class ProfileNotFound(LookupError):
    """No profile has the id or public id that was given."""


def find_profile(identifier: str) -> Profile:
    """The profile with this public id (a UUID) or database id."""
    text = (identifier or "").strip()
    try:
        lookup = {"public_id": uuid.UUID(text)}
    except ValueError:
        if not (text.isascii() and text.isdigit()):
            raise ProfileNotFound(identifier) from None
        lookup = {"pk": int(text)}
    profile = Profile.objects.filter(**lookup).first()
    if profile is None:
        raise ProfileNotFound(identifier)
    return profile


def export_profile(profile: Profile) -> dict:
    """Everything held about the profile, as JSON-ready data."""
    document = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now(),
    }
    for section in sorted(_sections.values(), key=lambda s: (s.order, s.key)):
        document[section.key] = section.build(profile)
    logger.info("profile %s exported (%s sections)", profile.pk, len(_sections))
    return document


# The consent app's own sections.


def _profile_section(profile: Profile) -> dict:
    return {name: getattr(profile, name) for name in PROFILE_FIELDS}


def _consent_history_section(profile: Profile) -> list[dict]:
    # Operators are named by whether one acted, not by who: the staff's
    # identities are not the person's data.
    return [
        {
            "at": event.created_at,
            "action": event.action,
            "channel": event.channel,
            "service": event.service.name if event.service_id else None,
            "source": event.source,
            "by_operator": event.operator_id is not None,
            "ip_address": event.ip_address,
            "user_agent": event.user_agent,
            "wording": event.wording,
            "note": event.note,
        }
        for event in ConsentEvent.objects.filter(profile=profile)
        .select_related("service")
        .order_by("created_at", "id")
    ]


def _subscriptions_section(profile: Profile) -> list[dict]:
    return [
        {
            "service": subscription.service.name,
            "service_label": subscription.service.label,
            "channel": subscription.service.channel,
            "status": subscription.status,
            "created_at": subscription.created_at,
            "subscribed_at": subscription.subscribed_at,
            "unsubscribed_at": subscription.unsubscribed_at,
            "expires_at": subscription.expires_at,
        }
        for subscription in Subscription.objects.filter(profile=profile)
        .select_related("service")
        .order_by("service__name")
    ]


# Sections read from the other apps through their selectors. Imported when
# an export runs, so the consent app does not need them to load.


def _addresses_section(profile: Profile) -> list[dict]:
    from delivery.quarantine import selectors

    found = []
    for channel, address in selectors.profile_addresses(profile):
        row = selectors.statuses_of(channel, [address]).get(address)
        entry = {"channel": channel, "address": address, "status": "valid"}
        if row is not None:
            entry.update(
                status=row.status,
                reason=row.reason,
                error_count=row.error_count,
                first_error_at=row.first_error_at,
                last_error_at=row.last_error_at,
                status_history=[
                    {
                        "at": change.created_at,
                        "from": change.old_status,
                        "to": change.new_status,
                        "reason": change.reason,
                        "source": change.source,
                        "note": change.note,
                    }
                    for change in row.status_changes.order_by("created_at", "id")
                ],
                bounces=[
                    {
                        "at": bounce.occurred_at,
                        "kind": bounce.kind,
                        "reason": bounce.reason,
                        "status_code": bounce.status_code,
                        "diagnostic": bounce.diagnostic,
                        "source": bounce.source,
                        "raw": bounce.raw,
                    }
                    for bounce in row.bounces.order_by("occurred_at", "id")
                ],
            )
        found.append(entry)
    return found


def _deliveries_section(profile: Profile) -> list[dict]:
    from delivery import selectors

    return [
        {
            "delivery": recipient.delivery_id,
            "label": recipient.delivery.label,
            "channel": recipient.delivery.channel,
            "service": (
                recipient.delivery.service.name
                if recipient.delivery.service_id
                else None
            ),
            "address": recipient.address,
            "status": recipient.status,
            "excluded_because": recipient.reason,
            "skipped_because": recipient.skip_reason,
            "sent_at": recipient.sent_at,
            "error": recipient.error,
        }
        for recipient in selectors.delivery_history(profile)
    ]


register_section(Section("profile", _profile_section, order=10))
register_section(Section("consent_history", _consent_history_section, order=20))
register_section(Section("subscriptions", _subscriptions_section, order=30))
register_section(Section("addresses", _addresses_section, order=40))
register_section(Section("deliveries", _deliveries_section, order=50))


# Erasure.


@dataclass
class Erasure:
    """What erasing a profile removes, or removed."""

    profile_id: int
    consent_events_anonymised: int
    subscriptions_deleted: int
    delivery_records_deleted: int
    # Address states are shared by every profile holding the address and
    # keep a complained-about address from being mailed again; they stay.
    # TODO: forget an address no other profile holds (its status history
    # and bounces) once quarantine.actions offers a function for it.
    addresses_kept: list[dict] = field(default_factory=list)
    done: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


def plan_erasure(profile: Profile) -> Erasure:
    """What erase_profile would do, changing nothing."""
    from delivery import selectors as delivery_selectors
    from delivery.quarantine import selectors as quarantine_selectors

    kept = []
    for channel, address in quarantine_selectors.profile_addresses(profile):
        row = quarantine_selectors.statuses_of(channel, [address]).get(address)
        if row is not None:
            kept.append({"channel": channel, "status": row.status})
    return Erasure(
        profile_id=profile.pk,
        consent_events_anonymised=ConsentEvent.objects.filter(profile=profile).count(),
        subscriptions_deleted=Subscription.objects.filter(profile=profile).count(),
        delivery_records_deleted=delivery_selectors.delivery_history(profile).count(),
        addresses_kept=kept,
    )


def erase_profile(
    *,
    profile: Profile,
    operator: AbstractBaseUser | None = None,
    note: str = "",
) -> Erasure:
    """Erase a profile on the person's request; return what was erased.

    One transaction. The profile row is locked FOR UPDATE, the lock that
    also holds back new rows referring to it, so no opt-out, ledger row or
    import slips in between the plan and the deletion.
    """
    with transaction.atomic():
        profile = Profile.objects.select_for_update().get(pk=profile.pk)
        erasure = plan_erasure(profile)

        # DESIGN.md says the application never updates the ledger. Erasure
        # on the person's request is the one lawful exception: their rows
        # stay as evidence of what was consented to and when, but lose the
        # IP address and user agent that identify them, and (through the
        # profile's deletion below) the link to the person.
        ConsentEvent.objects.filter(profile=profile).update(
            ip_address=None, user_agent=""
        )
        operator = operator if operator and operator.is_authenticated else None
        ConsentEvent(
            profile=None,
            action=ConsentEvent.Action.ERASE,
            source=ConsentEvent.Source.OPERATOR,
            operator=operator,
            note=_erasure_note(erasure, note),
        ).save()
        # TODO: nothing stops a later import from creating the person
        # again, contactable; a suppression list of hashed addresses would,
        # once the product decides to keep one.
        profile.delete()
        erasure.done = True

    logger.info(
        "profile %s erased: %s ledger rows anonymised, %s subscriptions and "
        "%s delivery records deleted",
        erasure.profile_id,
        erasure.consent_events_anonymised,
        erasure.subscriptions_deleted,
        erasure.delivery_records_deleted,
    )
    return erasure


def _erasure_note(erasure: Erasure, note: str) -> str:
    # Counts and the former row id only; the operator's own note is theirs
    # to keep free of personal data.
    summary = (
        f"Profile #{erasure.profile_id} erased on request: "
        f"{erasure.consent_events_anonymised} ledger rows anonymised, "
        f"{erasure.subscriptions_deleted} subscriptions and "
        f"{erasure.delivery_records_deleted} delivery records deleted."
    )
    return f"{summary} {note}".strip()
