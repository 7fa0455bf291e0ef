"""Seed N profiles set-based: a few INSERT ... SELECT over generate_series.

The mix is fixed by hashing each profile's id (hashint8extended), so two
runs with the same N hold the same data and no Python loop touches a row.
Of every 1,000 profiles (the `mix` bucket, 0-999):

    0-19     no e-mail address                        2 %
    20-49    "no longer contact"                      3 %
    50-89    e-mail opt-out                           4 %
    90-104   address quarantined                      1.5 %
    105-109  address denylisted                       0.5 %
    110-119  shares the address of the profile before 1 %
    120      an address that is not valid (legacy)    0.1 %

Independently: 60 % have a mobile phone, 3 % opted out of SMS, 30 % read
Portuguese, 70 % carry a CRM external id. Two services: an e-mail newsletter
(64 % subscribed, 3 % unsubscribed, 1 % pending) and SMS alerts (25 % of the
profiles with a phone). Every opt-out and subscription has its ledger rows,
spread over two years.
"""

import time
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model

from consent.models import ConsentEvent, Profile, Service, Subscription
from delivery.quarantine.models import Address

FIRST_NAMES = [
    "Ana", "Bruno", "Carla", "Daniel", "Elena", "Felipe", "Gabriela", "Hugo",
    "Isabel", "João", "Karen", "Lucas", "Mariana", "Nina", "Oscar", "Paula",
    "Rafael", "Sofia", "Tiago", "Vera", "Alice", "Ben", "Chloe", "David",
]  # fmt: skip
LAST_NAMES = [
    "Silva", "Santos", "Oliveira", "Souza", "Costa", "Pereira", "Almeida",
    "Ferreira", "Rodrigues", "Lima", "Smith", "Johnson", "Brown", "Taylor",
    "Miller", "Wilson", "Moore", "Clark", "Walker", "Young",
]  # fmt: skip
DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "corp.example"]

BENCH_OPERATOR = "bench-operator"

Step = Callable[[str, float], None]


def _h(column: str, salt: int, modulo: int) -> str:
    """SQL for a stable pseudo-random bucket of `column` in [0, modulo)."""
    return f"mod(abs(hashint8extended({column}, {salt})), {modulo})"


def _array(items: list[str]) -> str:
    quoted = ", ".join("'" + item.replace("'", "''") + "'" for item in items)
    return f"ARRAY[{quoted}]"


def _pick(items: list[str], column: str, salt: int) -> str:
    return f"({_array(items)})[1 + {_h(column, salt, len(items))}]"


def insert_select(model: type[Model], values: dict[str, str], source: str) -> int:
    """INSERT INTO model's table SELECT values FROM source; return the rows.

    `values` maps column names to SQL expressions over `source`. Every other
    column gets its model default (or NULL, or now() for timestamps), so a
    field another area adds later does not break the seeding.
    """
    columns, expressions, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.column in values:
            expressions.append(values[field.column])
        elif field.primary_key:
            continue
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            expressions.append("now()")
        elif field.has_default() or (field.empty_strings_allowed and not field.null):
            # get_default() is "" for a text field without a default.
            expressions.append("%s")
            params.append(field.get_db_prep_save(field.get_default(), connection))
        elif field.null:
            expressions.append("NULL")
        else:
            raise ValueError(f"{model.__name__}.{field.name} needs a seed value")
        columns.append(connection.ops.quote_name(field.column))
    statement = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} "
        f"({', '.join(columns)}) SELECT {', '.join(expressions)} FROM {source}"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def _email(i: str) -> str:
    return f"'user' || {i} || '@' || {_pick(DOMAINS, i, 3)}"


def seed_profiles(n: int) -> int:
    mix = _h("i", 0, 1000)
    email = (
        f"CASE WHEN {mix} < 20 THEN '' "
        f"WHEN {mix} BETWEEN 110 AND 119 THEN {_email('(i - 1)')} "
        f"WHEN {mix} = 120 THEN 'user' || i || '.' || {_pick(DOMAINS, 'i', 3)} "
        f"ELSE {_email('i')} END"
    )
    phone = (
        f"CASE WHEN {_h('i', 1, 100)} < 60 "
        "THEN '+336' || lpad(mod(i, 100000000)::text, 8, '0') ELSE '' END"
    )
    values = {
        "id": "i",
        "public_id": "gen_random_uuid()",
        "external_id": (
            f"CASE WHEN {_h('i', 2, 100)} < 70 THEN 'crm-' || lpad(i::text, 8, '0') END"
        ),
        "first_name": _pick(FIRST_NAMES, "i", 4),
        "last_name": _pick(LAST_NAMES, "i", 5),
        "language": f"CASE WHEN {_h('i', 6, 100)} < 30 THEN 'pt-br' ELSE 'en' END",
        "email": email,
        "mobile_phone": phone,
        "no_longer_contact": f"{mix} BETWEEN 20 AND 49",
        "email_opt_out": f"{mix} BETWEEN 50 AND 89",
        "sms_opt_out": f"{_h('i', 7, 100)} < 3",
        "created_at": f"now() - make_interval(days => {_h('i', 8, 730)}::int)",
        "updated_at": "now()",
    }
    rows = insert_select(Profile, values, f"generate_series(1, {int(n)}) AS s(i)")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)",
            [Profile._meta.db_table, max(n, 1)],
        )
    return rows


def seed_quarantine() -> int:
    mix = _h("p.id", 0, 1000)
    values = {
        "address": "p.email",
        "channel": "'email'",
        "domain": "split_part(p.email, '@', 2)",
        "status": f"CASE WHEN {mix} < 105 THEN 'quarantined' ELSE 'denylisted' END",
        "reason": (
            f"CASE WHEN {mix} < 105 THEN 'user_unknown' ELSE 'spam_complaint' END"
        ),
        "error_count": "1",
        "first_error_at": "now() - interval '30 days'",
        "last_error_at": "now() - interval '30 days'",
        "last_counted_error_at": "now() - interval '30 days'",
        "last_diagnostic": "'550 5.1.1 user unknown'",
    }
    # A shared address appears on two profiles; one row per address.
    source = (
        f"(SELECT DISTINCT ON (email) id, email FROM {Profile._meta.db_table} "
        f"WHERE {_h('id', 0, 1000)} BETWEEN 90 AND 109 AND email <> '' "
        "ORDER BY email, id) AS p"
    )
    return insert_select(Address, values, source)


def seed_services() -> dict[str, Service]:
    services = {}
    for name, label, channel in [
        ("newsletter", "Monthly newsletter", "email"),
        ("alerts", "Price alerts", "sms"),
    ]:
        services[name] = Service.objects.create(
            name=name,
            label=label,
            channel=channel,
            consent_wording=f"I want to receive the {label.lower()}.",
        )
    return services


def seed_subscriptions(services: dict[str, Service]) -> int:
    table = Profile._meta.db_table
    newsletter = _h("p.id", 10, 100)
    news_status = (
        f"CASE WHEN {newsletter} < 64 THEN 'subscribed' "
        f"WHEN {newsletter} < 67 THEN 'unsubscribed' ELSE 'pending' END"
    )
    rows = insert_select(
        Subscription,
        {
            "profile_id": "p.id",
            "service_id": str(services["newsletter"].pk),
            "status": news_status,
            "subscribed_at": "p.created_at",
            "unsubscribed_at": (
                f"CASE WHEN {newsletter} BETWEEN 64 AND 66 THEN now() END"
            ),
        },
        f"{table} AS p WHERE {newsletter} < 68",
    )
    rows += insert_select(
        Subscription,
        {
            "profile_id": "p.id",
            "service_id": str(services["alerts"].pk),
            "status": "'subscribed'",
            "subscribed_at": "p.created_at",
        },
        f"{table} AS p WHERE p.mobile_phone <> '' AND {_h('p.id', 11, 100)} < 25",
    )
    return rows


def seed_ledger() -> int:
    """One ledger row per opt-out and per subscription change."""
    profiles = Profile._meta.db_table
    subscriptions = Subscription._meta.db_table
    spread = f"now() - make_interval(days => {_h('p.id', 12, 700)}::int)"
    rows = 0
    for flag, channel in [
        ("no_longer_contact", ""),
        ("email_opt_out", "email"),
        ("sms_opt_out", "sms"),
    ]:
        rows += insert_select(
            ConsentEvent,
            {
                "profile_id": "p.id",
                "action": "'opt_out'",
                "channel": f"'{channel}'",
                "source": "'landing_page'",
                "created_at": spread,
            },
            f"{profiles} AS p WHERE p.{flag}",
        )
    rows += insert_select(
        ConsentEvent,
        {
            "profile_id": "s.profile_id",
            "action": (
                "CASE s.status WHEN 'pending' THEN 'subscribe_pending' "
                "ELSE 'subscribe' END"
            ),
            "channel": "v.channel",
            "service_id": "s.service_id",
            "source": "'landing_page'",
            "wording": "v.consent_wording",
            "ip_address": "'192.0.2.1'::inet",
            "user_agent": "'Mozilla/5.0 (bench)'",
            "created_at": "s.subscribed_at",
        },
        f"{subscriptions} AS s JOIN {Service._meta.db_table} AS v "
        "ON v.id = s.service_id",
    )
    rows += insert_select(
        ConsentEvent,
        {
            "profile_id": "s.profile_id",
            "action": "'unsubscribe'",
            "channel": "'email'",
            "service_id": "s.service_id",
            "source": "'one_click'",
            "created_at": "now()",
        },
        f"{subscriptions} AS s WHERE s.status = 'unsubscribed'",
    )
    return rows


def seed_operator():
    user_model = get_user_model()
    return user_model.objects.create_superuser(
        BENCH_OPERATOR, "bench@example.test", None
    )


def seed(n: int, step: Step) -> dict:
    """Seed everything; report each step's seconds through `step`."""
    counts = {}
    started = time.perf_counter()

    def timed(label: str, function, *args):
        began = time.perf_counter()
        result = function(*args)
        step(label, time.perf_counter() - began)
        return result

    counts["profiles"] = timed("profiles", seed_profiles, n)
    counts["quarantine_addresses"] = timed("quarantine addresses", seed_quarantine)
    services = seed_services()
    counts["subscriptions"] = timed("subscriptions", seed_subscriptions, services)
    counts["consent_events"] = timed("consent ledger", seed_ledger)
    seed_operator()
    timed("vacuum analyze", vacuum_analyze)
    counts["seconds"] = round(time.perf_counter() - started, 1)
    return counts


def vacuum_analyze() -> None:
    """Leave the tables as a long-running database has them: statistics
    gathered and the visibility map set, so plans are the real ones."""
    with connection.cursor() as cursor:
        for model in (Profile, Subscription, ConsentEvent, Address):
            cursor.execute(
                f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}"
            )
