"""Disk taken by the tables that grow with profiles and deliveries."""

from django.apps import apps
from django.db import connection

# The apps whose tables the README's sizing section is about.
APPS = ("consent", "delivery", "quarantine")


def table_sizes() -> list[dict]:
    """Rows, heap and index bytes of every table of APPS, largest first.

    Row counts are exact (the bench runs right after VACUUM ANALYZE, but a
    count is cheap next to the seeding and leaves no doubt).
    """
    tables = sorted(
        {
            model._meta.db_table
            for app in APPS
            for model in apps.get_app_config(app).get_models()
        }
    )
    sizes = []
    with connection.cursor() as cursor:
        for table in tables:
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT count(*), pg_table_size(%s), pg_indexes_size(%s), "
                f"pg_total_relation_size(%s) FROM {quoted}",
                [table, table, table],
            )
            rows, heap, indexes, total = cursor.fetchone()
            sizes.append(
                {
                    "table": table,
                    "rows": rows,
                    "table_bytes": heap,
                    "index_bytes": indexes,
                    "total_bytes": total,
                }
            )
    sizes.sort(key=lambda size: size["total_bytes"], reverse=True)
    return sizes


def database_bytes() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return cursor.fetchone()[0]


def per_million(sizes: list[dict], n: int) -> dict[str, float]:
    """MiB per million profiles for each table that has rows."""
    scale = 1_000_000 / max(n, 1)
    return {
        size["table"]: round(size["total_bytes"] * scale / 2**20, 1)
        for size in sizes
        if size["rows"]
    }


def format_sizes(sizes: list[dict], n: int) -> str:
    lines = [
        f"{'table':32} {'rows':>12} {'table MiB':>10} {'index MiB':>10} "
        f"{'total MiB':>10} {'MiB per 1M profiles':>20}"
    ]
    scale = 1_000_000 / max(n, 1)
    for size in sizes:
        if not size["rows"]:
            continue
        lines.append(
            f"{size['table']:32} {size['rows']:>12,} "
            f"{size['table_bytes'] / 2**20:>10.1f} "
            f"{size['index_bytes'] / 2**20:>10.1f} "
            f"{size['total_bytes'] / 2**20:>10.1f} "
            f"{size['total_bytes'] * scale / 2**20:>20.1f}"
        )
    return "\n".join(lines)
