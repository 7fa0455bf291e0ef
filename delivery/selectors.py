"""Reads of deliveries that pages, commands and other apps share."""

from dataclasses import dataclass

from django.db.models import QuerySet

from consent.models import Profile
from delivery.models import Delivery, DeliveryEvent, Recipient

# What a list of a delivery's profiles may show: an exclusion reason, the
# recipients, or the recipients in one send state.
TO_SEND = "to_send"


@dataclass(frozen=True)
class RecipientPage:
    rows: list[Recipient]
    # Keyset bounds for the neighbouring pages, None at either end.
    previous_before: int | None
    next_after: int | None


def delivery_profiles(
    delivery: Delivery, *, reason: str, status: str = ""
) -> QuerySet[Recipient]:
    """The delivery's rows for one exclusion reason (TO_SEND: recipients),
    optionally in one send state."""
    rows = Recipient.objects.filter(
        delivery=delivery, reason="" if reason == TO_SEND else reason
    )
    if status:
        rows = rows.filter(status=status)
    return rows


def recipient_page(
    rows: QuerySet[Recipient],
    *,
    after: int | None = None,
    before: int | None = None,
    size: int = 100,
) -> RecipientPage:
    """One page of rows in id order, found by keyset rather than OFFSET.

    The recipient_report_idx index reaches any page of a million-row list
    as fast as the first, and nothing counts the rows: the report already
    knows how many there are.
    """
    rows = rows.select_related("profile").only(
        "id",
        "profile_id",
        "address",
        "reason",
        "status",
        "skip_reason",
        "sent_at",
        "error",
        "profile__first_name",
        "profile__last_name",
    )
    if before is not None:
        found = list(rows.filter(id__lt=before).order_by("-id")[: size + 1])
        has_more_before = len(found) > size
        page = list(reversed(found[:size]))
        has_more_after = True
    else:
        if after is not None:
            rows = rows.filter(id__gt=after)
        found = list(rows.order_by("id")[: size + 1])
        page = found[:size]
        has_more_after = len(found) > size
        has_more_before = after is not None
    return RecipientPage(
        rows=page,
        previous_before=page[0].id if page and has_more_before else None,
        next_after=page[-1].id if page and has_more_after else None,
    )


def delivery_history(profile: Profile) -> QuerySet[Recipient]:
    """The deliveries a profile was targeted by, newest first, with the
    reason it was left out or what became of its message."""
    return (
        Recipient.objects.filter(profile=profile)
        .select_related("delivery", "delivery__service")
        .order_by("-delivery_id")
    )


def delivery_events(delivery: Delivery) -> QuerySet[DeliveryEvent]:
    return delivery.events.select_related("operator").order_by("-created_at", "-id")
