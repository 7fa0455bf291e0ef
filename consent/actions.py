"""Every change of consent goes through a function here.

Each function runs in one transaction, locks the rows it changes, and writes
a ConsentEvent in that transaction for each change it makes. A call that
changes nothing writes nothing, so repeating a request is harmless.
"""

import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from itertools import islice

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from consent.models import (
    OPT_OUT_FIELDS,
    Channel,
    ConsentEvent,
    Language,
    Profile,
    Service,
    Subscription,
)
from consent.selectors import subscriptions_due_to_end

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


def profile_for_email(
    *, email: str, first_name: str = "", last_name: str = "", language: str = ""
) -> Profile:
    """The profile a sign-up with this normalised address belongs to.

    Two profiles may share an address (DESIGN.md, consent rule 2); the
    oldest is the person signing up. Without one, a profile is created.
    Two sign-ups of one new address at the same moment must not create two
    profiles, so the lookup and the insert are serialised per address: by
    a transaction-scoped advisory lock on PostgreSQL, and by SQLite's
    single writer (the settings open every transaction IMMEDIATE).
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                    [f"profile-email:{email}"],
                )
        profile = Profile.objects.filter(email=email).order_by("pk").first()
        if profile is None:
            profile = Profile.objects.create(
                email=email,
                first_name=first_name,
                last_name=last_name,
                language=language or Language.ENGLISH,
            )
            logger.info("profile %s created by a sign-up", profile.pk)
    return profile


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
            Profile.objects.select_for_update(no_key=True)
            .only("pk", field)
            .get(pk=profile.pk)
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
            .select_for_update(no_key=True)
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


# Services and subscriptions.

Status = Subscription.Status

# A repeated request sends a pending subscription's confirmation request
# again, but not more often than this, so the public form cannot be used to
# flood a mailbox.
CONFIRMATION_RESEND_INTERVAL = timedelta(minutes=10)

# Rows per UPDATE and per ledger INSERT in bulk work: a fixed memory bound,
# and well within SQLite's limit on query parameters.
BATCH_SIZE = 1000


def subscription_end(service: Service, start: datetime) -> datetime | None:
    """When a subscription starting at `start` ends by itself, or None."""
    if service.validity_days is None:
        return None
    return start + timedelta(days=service.validity_days)


def _lock_profile(profile: Profile) -> None:
    """Lock the profile row, as every change of its consent does first.

    One lock, always taken first, makes changes of one person queue in one
    order: no deadlock between a subscription change and an opt-out, and
    two first subscriptions cannot both insert a row. NO KEY UPDATE still
    lets ledger rows that refer to the profile be inserted meanwhile.
    """
    list(
        Profile.objects.select_for_update(no_key=True)
        .filter(pk=profile.pk)
        .values_list("pk", flat=True)
    )


def _locked_subscription(profile: Profile, service: Service) -> Subscription | None:
    _lock_profile(profile)
    return (
        Subscription.objects.select_for_update()
        .filter(profile=profile, service=service)
        .first()
    )


def _batches(values: list, size: int = BATCH_SIZE) -> Iterator[list]:
    it = iter(values)
    while batch := list(islice(it, size)):
        yield batch


def _after_commit(send: Callable[[int], None], subscription_id: int) -> None:
    transaction.on_commit(partial(send, subscription_id))


def subscribe(
    *,
    profile: Profile,
    service: Service,
    origin: Origin,
    double_opt_in: bool = False,
    send_message: bool = False,
) -> Subscription:
    """Subscribe a profile to a service, or with double_opt_in ask it first.

    With double_opt_in the subscription is pending and the person is sent a
    link to confirm it. Otherwise it starts at once and, with send_message,
    the service's confirmation message goes out. Mail is sent after commit.

    A repeated request never downgrades: a subscribed profile stays
    subscribed; a pending one stays pending and its confirmation request is
    sent again, at most every CONFIRMATION_RESEND_INTERVAL.
    """
    from consent import emails

    now = timezone.now()
    wanted = Status.PENDING if double_opt_in else Status.SUBSCRIBED

    with transaction.atomic():
        subscription = _locked_subscription(profile, service)
        if subscription is not None and subscription.status == Status.SUBSCRIBED:
            return subscription
        if subscription is not None and subscription.status == wanted:
            # Pending, asked again: the person may have lost the message.
            last_sent = subscription.confirmation_sent_at
            if last_sent is None or now - last_sent >= CONFIRMATION_RESEND_INTERVAL:
                subscription.confirmation_sent_at = now
                subscription.save(update_fields=["confirmation_sent_at", "updated_at"])
                _after_commit(emails.send_confirmation_request, subscription.pk)
            return subscription

        if subscription is None:
            subscription = Subscription(profile=profile, service=service)
        subscription.status = wanted
        subscription.unsubscribed_at = None
        if wanted == Status.SUBSCRIBED:
            subscription.subscribed_at = now
            subscription.expires_at = subscription_end(service, now)
        else:
            subscription.confirmation_sent_at = now
        # The unique constraint settles a race between two first requests:
        # the loser's transaction fails instead of writing a second row.
        subscription.save()
        origin.event(
            profile=profile,
            action=(
                ConsentEvent.Action.SUBSCRIBE
                if wanted == Status.SUBSCRIBED
                else ConsentEvent.Action.SUBSCRIBE_PENDING
            ),
            channel=service.channel,
            service=service,
        ).save()

        if wanted == Status.PENDING:
            _after_commit(emails.send_confirmation_request, subscription.pk)
        elif send_message:
            _after_commit(emails.send_confirmation_message, subscription.pk)

    logger.info(
        "profile %s %s service %s (source %s)",
        profile.pk,
        "subscribed to" if wanted == Status.SUBSCRIBED else "asked to join",
        service.pk,
        origin.source,
    )
    return subscription


def confirm_subscription(*, profile: Profile, service: Service, origin: Origin) -> bool:
    """Turn a pending subscription into a running one.

    Confirming proves the person holds the address and wants the service,
    so refusals that would keep the service from them are lifted: the
    refusal of its channel and "no longer contact". The other channels stay
    refused, each now on its own. Return whether anything changed; only a
    pending subscription is confirmed.
    """
    now = timezone.now()

    with transaction.atomic():
        subscription = _locked_subscription(profile, service)
        if subscription is None or subscription.status != Status.PENDING:
            return False

        subscription.status = Status.SUBSCRIBED
        subscription.subscribed_at = now
        subscription.unsubscribed_at = None
        subscription.expires_at = subscription_end(service, now)
        subscription.save(
            update_fields=[
                "status",
                "subscribed_at",
                "unsubscribed_at",
                "expires_at",
                "updated_at",
            ]
        )
        origin.event(
            profile=profile,
            action=ConsentEvent.Action.CONFIRM,
            channel=service.channel,
            service=service,
        ).save()
        _reopen_channel(profile=profile, channel=service.channel, origin=origin)

    logger.info(
        "profile %s confirmed service %s (source %s)",
        profile.pk,
        service.pk,
        origin.source,
    )
    return True


def _reopen_channel(*, profile: Profile, channel: str, origin: Origin) -> None:
    """Let one channel reach the profile again, and nothing else."""
    current = Profile.objects.select_for_update(no_key=True).get(pk=profile.pk)
    if current.no_longer_contact:
        for other in Channel.values:
            if other != channel:
                set_opt_out(
                    profile=profile, channel=other, opted_out=True, origin=origin
                )
        set_opt_out(profile=profile, channel=EVERYTHING, opted_out=False, origin=origin)
    set_opt_out(profile=profile, channel=channel, opted_out=False, origin=origin)


def unsubscribe(*, profile: Profile, service: Service, origin: Origin) -> bool:
    """End a pending or running subscription; return whether one ended."""
    now = timezone.now()

    with transaction.atomic():
        _lock_profile(profile)
        changed = (
            Subscription.objects.filter(profile=profile, service=service)
            .exclude(status=Status.UNSUBSCRIBED)
            .update(
                status=Status.UNSUBSCRIBED,
                unsubscribed_at=now,
                expires_at=None,
                updated_at=now,
            )
        )
        if not changed:
            return False
        origin.event(
            profile=profile,
            action=ConsentEvent.Action.UNSUBSCRIBE,
            channel=service.channel,
            service=service,
        ).save()

    logger.info(
        "profile %s unsubscribed from service %s (source %s)",
        profile.pk,
        service.pk,
        origin.source,
    )
    return True


def unsubscribe_by_link(
    *,
    public_id: uuid.UUID,
    service_id: int | None,
    channel: str,
    origin: Origin,
) -> bool:
    """Unsubscribe from a service, or without one opt out of the channel.

    Made for the RFC 8058 one-click POST, which must stay cheap under load:
    one conditional UPDATE, which locks the row it changes so a repeated
    POST changes nothing, and one ledger INSERT. Both are written in SQL
    here because building them through the ORM cost as much CPU as the
    rest of the request. Return whether anything changed; False also when
    the profile or its subscription does not exist.
    """
    quote = connection.ops.quote_name
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    key = Profile._meta.get_field("public_id").get_db_prep_value(public_id, connection)
    profiles = quote(Profile._meta.db_table)

    with transaction.atomic(), connection.cursor() as cursor:
        if service_id is not None:
            cursor.execute(
                f"UPDATE {quote(Subscription._meta.db_table)}"
                " SET status = %s, unsubscribed_at = %s, expires_at = NULL,"
                " updated_at = %s"
                f" WHERE profile_id = (SELECT id FROM {profiles}"
                " WHERE public_id = %s) AND service_id = %s AND status <> %s"
                " RETURNING profile_id",
                [Status.UNSUBSCRIBED, now, now, key, service_id, Status.UNSUBSCRIBED],
            )
            action = ConsentEvent.Action.UNSUBSCRIBE
        else:
            flag = quote(_flag_field(channel))
            cursor.execute(
                f"UPDATE {profiles} SET {flag} = %s"
                f" WHERE public_id = %s AND {flag} = %s RETURNING id",
                [True, key, False],
            )
            action = ConsentEvent.Action.OPT_OUT
        changed = cursor.fetchone()
        if changed is None:
            return False

        event = origin.event(profile=None, action=action, channel=channel)
        event.profile_id = changed[0]
        event.service_id = service_id
        _insert_event(cursor, event, now)

    logger.info(
        "one link: %s of service %s / channel %s (source %s)",
        action,
        service_id,
        channel,
        origin.source,
    )
    return True


def _insert_event(cursor, event: ConsentEvent, created_at) -> None:
    """INSERT one ledger row, its values prepared as the ORM would."""
    fields = [
        field for field in ConsentEvent._meta.concrete_fields if not field.primary_key
    ]
    values = [
        created_at
        if field.attname == "created_at"
        else field.get_db_prep_save(getattr(event, field.attname), connection)
        for field in fields
    ]
    quote = connection.ops.quote_name
    cursor.execute(
        f"INSERT INTO {quote(ConsentEvent._meta.db_table)}"
        f" ({', '.join(quote(field.column) for field in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})",
        values,
    )


def bulk_subscribe(
    *, profiles: QuerySet[Profile], service: Service, origin: Origin
) -> int:
    """Subscribe many profiles at once, without asking them to confirm.

    For operators and imports, who vouch for the consent themselves. A
    running subscription is left alone. Return how many started.
    """
    now = timezone.now()
    ends = subscription_end(service, now)

    with transaction.atomic():
        restarting = list(
            Subscription.objects.filter(service=service, profile__in=profiles)
            .exclude(status=Status.SUBSCRIBED)
            .select_for_update()
            .values_list("pk", "profile_id")
        )
        for batch in _batches(restarting):
            Subscription.objects.filter(pk__in=[pk for pk, _ in batch]).update(
                status=Status.SUBSCRIBED,
                subscribed_at=now,
                unsubscribed_at=None,
                expires_at=ends,
                updated_at=now,
            )
        starting = list(
            profiles.exclude(subscriptions__service=service).values_list(
                "pk", flat=True
            )
        )
        for batch in _batches(starting):
            Subscription.objects.bulk_create(
                [
                    Subscription(
                        profile_id=profile_id,
                        service=service,
                        status=Status.SUBSCRIBED,
                        subscribed_at=now,
                        expires_at=ends,
                    )
                    for profile_id in batch
                ]
            )
        changed = [profile_id for _, profile_id in restarting] + starting
        _record_for_each(
            changed, origin, action=ConsentEvent.Action.SUBSCRIBE, service=service
        )

    logger.info(
        "%s profiles subscribed to service %s (source %s)",
        len(changed),
        service.pk,
        origin.source,
    )
    return len(changed)


def bulk_unsubscribe(
    *, profiles: QuerySet[Profile], service: Service, origin: Origin
) -> int:
    """End many profiles' subscriptions to a service; return how many ended."""
    now = timezone.now()

    with transaction.atomic():
        ending = list(
            Subscription.objects.filter(service=service, profile__in=profiles)
            .exclude(status=Status.UNSUBSCRIBED)
            .select_for_update()
            .values_list("pk", "profile_id")
        )
        for batch in _batches(ending):
            Subscription.objects.filter(pk__in=[pk for pk, _ in batch]).update(
                status=Status.UNSUBSCRIBED,
                unsubscribed_at=now,
                expires_at=None,
                updated_at=now,
            )
        _record_for_each(
            [profile_id for _, profile_id in ending],
            origin,
            action=ConsentEvent.Action.UNSUBSCRIBE,
            service=service,
        )

    logger.info(
        "%s profiles unsubscribed from service %s (source %s)",
        len(ending),
        service.pk,
        origin.source,
    )
    return len(ending)


def _record_for_each(
    profile_ids: list[int], origin: Origin, *, action: str, service: Service
) -> None:
    for batch in _batches(profile_ids):
        ConsentEvent.objects.bulk_create(
            [
                origin.event(
                    profile=Profile(pk=profile_id),
                    action=action,
                    channel=service.channel,
                    service=service,
                )
                for profile_id in batch
            ]
        )


def expire_subscriptions(
    *,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] | None = None,
) -> int:
    """End every running subscription past its end; return how many ended.

    Works in batches of `batch_size`, each in its own transaction, so a
    large backlog neither holds locks for long nor needs much memory.
    `progress` is called with the running total after each batch.
    """
    # TODO: also end pending subscriptions whose confirmation link has
    # expired (CONFIRMATION_MAX_AGE), and remove the profiles that only such
    # a request created; until then they stay pending and count as pending
    # in the service list.
    now = now or timezone.now()
    origin = Origin(source=ConsentEvent.Source.EXPIRY)
    due = subscriptions_due_to_end(now).order_by("pk")
    total = 0

    while True:
        with transaction.atomic():
            batch = list(
                due.select_for_update().values_list(
                    "pk", "profile_id", "service_id", "service__channel"
                )[:batch_size]
            )
            if not batch:
                break
            Subscription.objects.filter(pk__in=[row[0] for row in batch]).update(
                status=Status.UNSUBSCRIBED,
                unsubscribed_at=now,
                updated_at=now,
            )
            ConsentEvent.objects.bulk_create(
                [
                    origin.event(
                        profile=Profile(pk=profile_id),
                        action=ConsentEvent.Action.EXPIRE,
                        channel=channel,
                        service=Service(pk=service_id),
                    )
                    for _, profile_id, service_id, channel in batch
                ]
            )
        total += len(batch)
        if progress is not None:
            progress(total)

    if total:
        logger.info("%s subscriptions expired", total)
    return total


def reschedule_expiry(*, service: Service) -> int:
    """Apply the service's current validity to its running subscriptions.

    Called when an operator changes the validity, so each subscription ends
    its new number of days after it started. Return how many were updated.
    """
    running = Subscription.objects.filter(service=service, status=Status.SUBSCRIBED)
    if service.validity_days is None:
        ends = None
    else:
        ends = F("subscribed_at") + timedelta(days=service.validity_days)
    updated = running.update(expires_at=ends, updated_at=timezone.now())
    logger.info(
        "service %s: validity now %s days, %s subscriptions rescheduled",
        service.pk,
        service.validity_days,
        updated,
    )
    return updated
