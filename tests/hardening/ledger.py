"""Checks that the consent ledger explains the state it sits beside."""

from consent.models import OPT_OUT_FIELDS, ConsentEvent, Profile, Subscription

FLAG_OF_CHANNEL = {"": "no_longer_contact"} | {
    channel: field for channel, field in OPT_OUT_FIELDS.items()
}

# The subscription status each ledger action leaves behind.
STATUS_AFTER = {
    ConsentEvent.Action.SUBSCRIBE: Subscription.Status.SUBSCRIBED,
    ConsentEvent.Action.CONFIRM: Subscription.Status.SUBSCRIBED,
    ConsentEvent.Action.SUBSCRIBE_PENDING: Subscription.Status.PENDING,
    ConsentEvent.Action.UNSUBSCRIBE: Subscription.Status.UNSUBSCRIBED,
    ConsentEvent.Action.EXPIRE: Subscription.Status.UNSUBSCRIBED,
}


def flag_problems(profile: Profile, initial: dict[str, bool]) -> list[str]:
    """Where a profile's flags and its opt-out/opt-in rows disagree.

    Rows are taken in the order they were written (id). Each row must
    change the flag (a repeated opt-out is no change and writes nothing),
    so each row is the opposite of the one before, the first is the
    opposite of the initial value, and the last gives today's value. A lost
    row breaks the chain.
    """
    profile.refresh_from_db()
    problems = []
    for channel, field in FLAG_OF_CHANNEL.items():
        actions = list(
            ConsentEvent.objects.filter(
                profile=profile,
                channel=channel,
                action__in=[ConsentEvent.Action.OPT_OUT, ConsentEvent.Action.OPT_IN],
            )
            .order_by("id")
            .values_list("action", flat=True)
        )
        value = initial[field]
        for position, action in enumerate(actions):
            wanted = action == ConsentEvent.Action.OPT_OUT
            if wanted == value:
                problems.append(
                    f"{field}: row {position + 1} of {len(actions)} ({action}) "
                    f"changes nothing"
                )
            value = wanted
        if getattr(profile, field) != value:
            problems.append(
                f"{field} is {getattr(profile, field)} but the ledger says {value}"
            )
    return problems


def subscription_problems(subscription: Subscription) -> list[str]:
    """Where a subscription's status and its ledger rows disagree."""
    subscription.refresh_from_db()
    last = (
        ConsentEvent.objects.filter(
            profile_id=subscription.profile_id, service_id=subscription.service_id
        )
        .order_by("-id")
        .values_list("action", flat=True)
        .first()
    )
    if last is None:
        return [f"subscription {subscription.pk} has no ledger row"]
    if STATUS_AFTER[last] != subscription.status:
        return [
            f"subscription {subscription.pk} is {subscription.status} but the "
            f"last ledger row is {last}"
        ]
    return []


def initial_flags(profile: Profile) -> dict[str, bool]:
    return {field: getattr(profile, field) for field in FLAG_OF_CHANNEL.values()}
