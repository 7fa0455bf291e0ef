"""The SQL of delivery analysis: a target in, one row per profile out.

Everything that scales with the number of profiles happens in the database,
in set-based statements whose number does not depend on the target's size.
The classification is one INSERT ... SELECT, so it reads every profile, its
opt-outs, its subscription and its address's quarantine state in one
snapshot, whatever the isolation level of the surrounding transaction.

The same file keeps the bare SQL that computes the same result with no
application code (``baseline_statements``), so a benchmark can time both
side by side. Both run on PostgreSQL and SQLite 3.25 or later.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from consent.models import OPT_OUT_FIELDS, Profile, Subscription
from delivery.models import Delivery, Exclusion, LateExclusion, Recipient
from delivery.quarantine.models import Address
from delivery.quarantine.models import Status as AddressStatus

Progress = Callable[[str], None]


def quoted_table(model) -> str:
    """The model's table name, quoted for raw SQL."""
    return connection.ops.quote_name(model._meta.db_table)


def _column(model, field_name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field_name).column)


def normalised_address_sql(channel: str, column: str) -> str:
    """SQL normalising an address column the way consent.addresses does.

    Profiles store addresses normalised, but rows written before that rule,
    or by another system, may not be: compare what the address means.
    Phone numbers lose the separators people type; a number without its
    country code cannot be completed in SQL and is found invalid instead.
    """
    if channel == "email":
        return f"LOWER(TRIM(COALESCE({column}, '')))"
    stripped = f"TRIM(COALESCE({column}, ''))"
    for separator in (" ", "-", ".", "(", ")", "/"):
        stripped = f"REPLACE({stripped}, '{separator}', '')"
    return stripped


def valid_address_sql(channel: str, address: str) -> str:
    """SQL true when a normalised address has the syntax of its channel.

    A coarse check, the same on both databases: it catches legacy rows
    (no "@", spaces, a phone without its "+"), while the full validation
    happens in consent.addresses when an address is written.
    """
    if channel == "email":
        # One "@", something before it, a dot in the domain, no blanks and
        # no empty label. Doubled % because the statement takes parameters.
        return (
            f"({address} LIKE '_%%@_%%._%%'"
            f" AND {address} NOT LIKE '%%@%%@%%'"
            f" AND {address} NOT LIKE '%% %%'"
            f" AND {address} NOT LIKE '%%..%%'"
            f" AND {address} NOT LIKE '%%@.%%'"
            f" AND {address} NOT LIKE '%%.@%%'"
            f" AND {address} NOT LIKE '.%%'"
            f" AND {address} NOT LIKE '%%.'"
            f" AND LENGTH({address}) <= 254)"
        )
    # E.164: "+", a first digit that is not 0, 7 to 15 digits in all.
    if connection.vendor == "postgresql":
        return f"({address} ~ '^\\+[1-9][0-9]{{6,14}}$')"
    return (
        f"({address} GLOB '+[1-9]*'"
        f" AND LENGTH({address}) BETWEEN 8 AND 16"
        f" AND SUBSTR({address}, 2) NOT GLOB '*[^0-9]*')"
    )


def _target_sql(delivery: Delivery, channel_column: str) -> tuple[str, dict]:
    """The target profiles with the columns classification needs."""
    profile = quoted_table(Profile)
    address = normalised_address_sql(delivery.channel, f"p.{channel_column}")
    opt_out = _column(Profile, OPT_OUT_FIELDS[delivery.channel])
    params: dict = {}
    joins = ""
    conditions = ["1 = 1"]
    if delivery.service_id is not None:
        joins = (
            f" JOIN {quoted_table(Subscription)} s ON s.profile_id = p.id"
            " AND s.service_id = %(service)s AND s.status = %(subscribed)s"
            " AND (s.expires_at IS NULL OR s.expires_at > %(now)s)"
        )
        params["service"] = delivery.service_id
        params["subscribed"] = Subscription.Status.SUBSCRIBED
    if delivery.language:
        conditions.append("p.language = %(language)s")
        params["language"] = delivery.language
    sql = (
        f"SELECT p.id, {address} AS address, p.no_longer_contact AS opted_out,"
        f" p.{opt_out} AS channel_opted_out"
        f" FROM {profile} p{joins} WHERE {' AND '.join(conditions)}"
    )
    if connection.vendor == "postgresql":
        # The classification reads the normalised address a dozen times.
        # OFFSET 0 keeps PostgreSQL from folding this subquery into the
        # outer one, which would compute LOWER(TRIM(...)) at each mention
        # instead of once per profile (three times slower at a million).
        sql += " OFFSET 0"
    return sql, params


def _channel_column(channel: str) -> str:
    field = "email" if channel == "email" else "mobile_phone"
    return _column(Profile, field)


def classification_sql(delivery: Delivery, *, now: datetime) -> tuple[str, dict]:
    """SELECT (profile_id, address, reason, status) for every target profile.

    The first reason that applies wins, in the order of Exclusion. Among
    the profiles no earlier reason excludes, those sharing an address are
    ranked by id and all but the first are duplicates.
    """
    target, params = _target_sql(delivery, _channel_column(delivery.channel))
    params.update(
        {
            "now": connection.ops.adapt_datetimefield_value(now),
            "channel": delivery.channel,
            "denylisted": AddressStatus.DENYLISTED,
            "quarantined": AddressStatus.QUARANTINED,
            "pending": Recipient.Status.PENDING,
            "excluded": Recipient.Status.EXCLUDED,
            **{f"r_{key}": key for key in Exclusion.values},
        }
    )
    valid = valid_address_sql(delivery.channel, "t.address")
    early = (
        "CASE"
        " WHEN t.address = '' THEN %(r_no_address)s"
        f" WHEN NOT {valid} THEN %(r_invalid_address)s"
        " WHEN t.opted_out THEN %(r_opted_out)s"
        " WHEN t.channel_opted_out THEN %(r_channel_opted_out)s"
        " WHEN q.status = %(denylisted)s THEN %(r_denylisted)s"
        " WHEN q.status = %(quarantined)s THEN %(r_quarantined)s"
        " END"
    )
    classified = (
        f"SELECT t.id, t.address, {early} AS early FROM ({target}) t"
        f" LEFT JOIN {quoted_table(Address)} q ON q.channel = %(channel)s"
        " AND q.address = t.address"
        " AND q.status IN (%(denylisted)s, %(quarantined)s)"
    )
    if delivery.exclude_duplicates:
        # NULLs share one partition, so the rank counts only the profiles
        # left after the earlier reasons. Byte order is enough to tell
        # equal addresses apart and sorts fastest on PostgreSQL.
        collate = ' COLLATE "C"' if connection.vendor == "postgresql" else ""
        copy = (
            f"ROW_NUMBER() OVER (PARTITION BY c.early, c.address{collate}"
            " ORDER BY c.id)"
        )
    else:
        copy = "1"
    ranked = f"SELECT c.id, c.address, c.early, {copy} AS copy FROM ({classified}) c"
    sql = (
        "SELECT r.id AS profile_id, r.address,"
        " CASE WHEN r.early IS NOT NULL THEN r.early"
        " WHEN r.copy > 1 THEN %(r_duplicate)s ELSE '' END AS reason,"
        " CASE WHEN r.early IS NULL AND r.copy = 1 THEN %(pending)s"
        " ELSE %(excluded)s END AS status"
        f" FROM ({ranked}) r"
    )
    return sql, params


@dataclass(frozen=True)
class Counts:
    target: int
    excluded: dict[str, int]

    @property
    def to_send(self) -> int:
        return self.target - sum(self.excluded.values())


# Session settings for the classification on PostgreSQL, local to its
# transaction: memory enough to sort a million rows without spilling to
# disk, and no JIT compilation, which costs half a second for a statement
# that runs once. The baseline of the benchmark runs with the same.
POSTGRES_SETTINGS = "SET LOCAL work_mem = '128MB'; SET LOCAL jit = off"

_COLUMNS = "(delivery_id, profile_id, address, reason, status, skip_reason, error)"


def write_analysis(
    delivery: Delivery, *, now: datetime, progress: Progress | None = None
) -> Counts:
    """Replace the delivery's rows with a fresh classification; count them.

    Three statements whatever the target's size: delete the previous rows,
    tune the session (PostgreSQL) or count the new rows (SQLite), insert.
    The caller holds the transaction, so a failure leaves the previous
    result in place.
    """
    say = progress or (lambda message: None)

    say("Removing the previous result")
    Recipient.objects.filter(delivery=delivery).delete()

    say("Classifying the target")
    select, params = classification_sql(delivery, now=now)
    params["delivery"] = delivery.pk
    insert = (
        f"INSERT INTO {quoted_table(Recipient)} {_COLUMNS}"
        " SELECT %(delivery)s, x.profile_id, x.address, x.reason, x.status, '', ''"
        # Recipient ids follow profile ids: lists and batches go in profile
        # order, and the profile index is filled from left to right.
        f" FROM ({select}) x ORDER BY x.profile_id"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(POSTGRES_SETTINGS)
            # The rows are counted as they are written, rather than read
            # back from a table they have just made a million rows larger.
            cursor.execute(
                f"WITH written AS ({insert} RETURNING reason)"
                " SELECT reason, COUNT(*) FROM written GROUP BY reason",
                params,
            )
        else:
            cursor.execute(insert, params)
            cursor.execute(
                f"SELECT reason, COUNT(*) FROM {quoted_table(Recipient)}"
                " WHERE delivery_id = %s GROUP BY reason",
                [delivery.pk],
            )
        by_reason = dict(cursor.fetchall())

    target = sum(by_reason.values())
    excluded = {key: by_reason.get(key, 0) for key in Exclusion.values}
    return Counts(target=target, excluded=excluded)


def late_check_sql(
    delivery: Delivery, *, now: datetime, claim_token: uuid.UUID | None = None
) -> tuple[str, dict]:
    """SELECT (id, profile id, address, late reason) of a claimed batch.

    A profile's consent may change between analysis and sending: this
    looks again, in one statement for the whole batch, at what could have
    changed since. The late reason is NULL for those still to be sent.
    Without a claim token it looks at every recipient still pending, for a
    dry run.
    """
    channel_column = _channel_column(delivery.channel)
    current = normalised_address_sql(delivery.channel, f"p.{channel_column}")
    opt_out = _column(Profile, OPT_OUT_FIELDS[delivery.channel])
    params = {
        "channel": delivery.channel,
        "denylisted": AddressStatus.DENYLISTED,
        "quarantined": AddressStatus.QUARANTINED,
        **{f"l_{key}": key for key in LateExclusion.values},
    }
    unsubscribed = ""
    if delivery.service_id is not None:
        unsubscribed = (
            f" WHEN NOT EXISTS (SELECT 1 FROM {quoted_table(Subscription)} s"
            " WHERE s.profile_id = p.id AND s.service_id = %(service)s"
            " AND s.status = %(subscribed)s"
            " AND (s.expires_at IS NULL OR s.expires_at > %(now)s))"
            " THEN %(l_unsubscribed)s"
        )
        params["service"] = delivery.service_id
        params["subscribed"] = Subscription.Status.SUBSCRIBED
        params["now"] = connection.ops.adapt_datetimefield_value(now)
    sql = (
        "SELECT r.id, r.profile_id, r.address, CASE"
        f" WHEN {current} <> r.address THEN %(l_address_changed)s"
        " WHEN p.no_longer_contact THEN %(l_opted_out)s"
        f" WHEN p.{opt_out} THEN %(l_channel_opted_out)s"
        f"{unsubscribed}"
        " WHEN q.status = %(denylisted)s THEN %(l_denylisted)s"
        " WHEN q.status = %(quarantined)s THEN %(l_quarantined)s"
        " END AS late"
        f" FROM {quoted_table(Recipient)} r"
        f" JOIN {quoted_table(Profile)} p ON p.id = r.profile_id"
        f" LEFT JOIN {quoted_table(Address)} q ON q.channel = %(channel)s"
        " AND q.address = r.address"
        " AND q.status IN (%(denylisted)s, %(quarantined)s)"
    )
    if claim_token is None:
        sql += (
            " WHERE r.delivery_id = %(delivery)s AND r.reason = ''"
            " AND r.status = %(pending)s"
        )
        params["delivery"] = delivery.pk
        params["pending"] = Recipient.Status.PENDING
    else:
        sql += (
            " WHERE r.claim_token = %(token)s AND r.status = %(claimed)s ORDER BY r.id"
        )
        params["token"] = Recipient._meta.get_field("claim_token").get_db_prep_value(
            claim_token, connection
        )
        params["claimed"] = Recipient.Status.CLAIMED
    return sql, params


BASELINE_TARGETS = ("temporary", "recipients")


def baseline_statements(
    delivery: Delivery, *, now: datetime, into: str = "temporary"
) -> list[tuple]:
    """The bare SQL computing the same result, for benchmarks (PostgreSQL).

    Written by hand apart from the application's query builder, so that it
    also cross-checks it. It classifies every target profile and keeps the
    result either in an unindexed temporary table (`into="temporary"`: the
    floor, what the classification alone costs) or in the recipient table
    itself (`into="recipients"`: what the database must do to keep the
    result where the report reads it, indexes included). The last
    statement returns (reason, count) rows. Run it in a transaction; the
    temporary table is dropped at its end, and recipient rows are the
    caller's to delete.
    """
    if into not in BASELINE_TARGETS:
        raise ValueError(f"into must be one of {BASELINE_TARGETS}, not {into!r}")
    email = delivery.channel == "email"
    address = (
        "lower(trim(p.email))"
        if email
        else (
            "replace(replace(replace(replace(replace(replace(trim(p.mobile_phone),"
            " ' ', ''), '-', ''), '.', ''), '(', ''), ')', ''), '/', '')"
        )
    )
    valid = (
        "a.address LIKE '_%%@_%%._%%' AND a.address NOT LIKE '%%@%%@%%'"
        " AND a.address NOT LIKE '%% %%' AND a.address NOT LIKE '%%..%%'"
        " AND a.address NOT LIKE '%%@.%%' AND a.address NOT LIKE '%%.@%%'"
        " AND a.address NOT LIKE '.%%' AND a.address NOT LIKE '%%.'"
        " AND length(a.address) <= 254"
        if email
        else "a.address ~ '^\\+[1-9][0-9]{6,14}$'"
    )
    opt_out = "p.email_opt_out" if email else "p.sms_opt_out"
    target = f"{quoted_table(Profile)} p"
    params: dict = {"channel": delivery.channel, "now": now, "id": delivery.pk}
    if delivery.service_id is not None:
        target += (
            f" JOIN {quoted_table(Subscription)} s ON s.profile_id = p.id"
            " AND s.service_id = %(service)s AND s.status = 'subscribed'"
            " AND (s.expires_at IS NULL OR s.expires_at > %(now)s)"
        )
        params["service"] = delivery.service_id
    where = "TRUE"
    if delivery.language:
        where = "p.language = %(language)s"
        params["language"] = delivery.language
    rank = (
        'row_number() OVER (PARTITION BY early, address COLLATE "C" ORDER BY id)'
        if delivery.exclude_duplicates
        else "1"
    )
    classified = f"""
        SELECT id AS profile_id, address,
               coalesce(early, CASE WHEN copy > 1 THEN 'duplicate' END, '')
                   AS reason,
               CASE WHEN early IS NULL AND copy = 1 THEN 'pending'
                    ELSE 'excluded' END AS status
        FROM (
            SELECT id, address, early, {rank} AS copy
            FROM (
                SELECT a.id, a.address,
                       CASE
                           WHEN a.address = '' THEN 'no_address'
                           WHEN NOT ({valid}) THEN 'invalid_address'
                           WHEN a.no_longer_contact THEN 'opted_out'
                           WHEN a.opt_out THEN 'channel_opted_out'
                           WHEN q.status = 'denylisted' THEN 'denylisted'
                           WHEN q.status = 'quarantined' THEN 'quarantined'
                       END AS early
                FROM (
                    -- OFFSET 0: the address is computed once per profile.
                    SELECT p.id, {address} AS address, p.no_longer_contact,
                           {opt_out} AS opt_out
                    FROM {target}
                    WHERE {where}
                    OFFSET 0
                ) a
                LEFT JOIN {quoted_table(Address)} q
                       ON q.channel = %(channel)s AND q.address = a.address
                      AND q.status IN ('denylisted', 'quarantined')
            ) c
        ) ranked
    """
    if into == "temporary":
        keep = f"CREATE TEMPORARY TABLE baseline_result ON COMMIT DROP AS {classified}"
        count = "SELECT reason, count(*) FROM baseline_result GROUP BY 1"
        return [(POSTGRES_SETTINGS, None), (keep, params), (count, None)]
    keep = f"""
        WITH written AS (
            INSERT INTO {quoted_table(Recipient)} {_COLUMNS}
            SELECT %(id)s, profile_id, address, reason, status, '', ''
            FROM ({classified}) x
            ORDER BY profile_id
            RETURNING reason
        )
        SELECT reason, count(*) FROM written GROUP BY 1
    """
    return [(POSTGRES_SETTINGS, None), (keep, params)]
