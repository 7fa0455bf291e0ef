"""Every change of consent goes through a function here.

Each function runs in one transaction, locks the rows it changes, and writes
a ConsentEvent in that transaction for each change it makes. A call that
changes nothing writes nothing, so repeating a request is harmless.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import QuerySet

from consent.models import OPT_OUT_FIELDS, ConsentEvent, Profile, Service

logger = logging.getLogger(__name__)

# A channel of None means every channel: the "no longer contact" flag.
EVERYTHING = None


@dataclass(frozen=True)
class Origin:
    """Who or what asked for a change, as the ledger records it."""

    source: str
    operator: AbstractBaseUser | None = None
    ip_address: str | None = None
    user_agent: str = ""
    wording: str = ""
    note: str = ""

    def event(
        self,
        *,
        profile: Profile,
        action: str,
        channel: str | None = None,
        service: Service | None = None,
    ) -> ConsentEvent:
        """Build, without saving, the ledger row for one change."""
        operator = self.operator
        if operator is not None and not operator.is_authenticated:
            operator = None
        return ConsentEvent(
            profile=profile,
            action=action,
            channel=channel or "",
            service=service,
            source=self.source,
            operator=operator,
            ip_address=self.ip_address or None,
            user_agent=(self.user_agent or "")[:1000],
            wording=self.wording,
            note=self.note,
        )


def _flag_field(channel: str | None) -> str:
    if channel is EVERYTHING:
        return "no_longer_contact"
    if channel not in OPT_OUT_FIELDS:
        raise ValueError(f"Unknown channel {channel!r}.")
    return OPT_OUT_FIELDS[channel]


def set_opt_out(
    *,
    profile: Profile,
    channel: str | None,
    opted_out: bool,
    origin: Origin,
) -> bool:
    """Opt a profile out of (or back into) one channel, or every channel.

    Return whether anything changed. The profile row is locked, so two
    concurrent calls are serialised and each change is recorded once.
    """
    field = _flag_field(channel)

    with transaction.atomic():
        current = (
            Profile.objects.select_for_update().only("pk", field).get(pk=profile.pk)
        )
        if getattr(current, field) == opted_out:
            setattr(profile, field, opted_out)
            return False

        Profile.objects.filter(pk=profile.pk).update(**{field: opted_out})
        setattr(profile, field, opted_out)
        origin.event(
            profile=profile,
            action=(
                ConsentEvent.Action.OPT_OUT if opted_out else ConsentEvent.Action.OPT_IN
            ),
            channel=channel,
        ).save()

    logger.info(
        "profile %s %s %s (source %s)",
        profile.pk,
        "opted out of" if opted_out else "opted into",
        channel or "everything",
        origin.source,
    )
    return True


def record_opt_out(
    *, profile: Profile, channel: str | None = EVERYTHING, origin: Origin
) -> bool:
    """Record a refusal of one channel, or of everything when None."""
    return set_opt_out(profile=profile, channel=channel, opted_out=True, origin=origin)


def record_opt_in(
    *, profile: Profile, channel: str | None = EVERYTHING, origin: Origin
) -> bool:
    """Lift a refusal of one channel, or "no longer contact" when None."""
    return set_opt_out(profile=profile, channel=channel, opted_out=False, origin=origin)


def bulk_set_opt_out(
    *,
    profiles: QuerySet[Profile],
    channel: str | None,
    opted_out: bool,
    origin: Origin,
) -> int:
    """Apply one opt-out or opt-in to many profiles; return how many changed.

    One UPDATE and one bulk INSERT of ledger rows, whatever the count.
    """
    field = _flag_field(channel)

    with transaction.atomic():
        to_change = list(
            profiles.exclude(**{field: opted_out})
            .select_for_update()
            .values_list("pk", flat=True)
        )
        if not to_change:
            return 0

        Profile.objects.filter(pk__in=to_change).update(**{field: opted_out})
        action = (
            ConsentEvent.Action.OPT_OUT if opted_out else ConsentEvent.Action.OPT_IN
        )
        ConsentEvent.objects.bulk_create(
            origin.event(profile=Profile(pk=pk), action=action, channel=channel)
            for pk in to_change
        )

    logger.info(
        "%s profiles %s %s (source %s)",
        len(to_change),
        "opted out of" if opted_out else "opted into",
        channel or "everything",
        origin.source,
    )
    return len(to_change)
