"""Adding to the rollups: the detailed rows and the account-level summaries the pages read.

Every rollup is added to with one statement shape, an upsert: add the counts to the row with the
same unique columns, or create it. The summaries are written in the same transaction as the
detailed rows they sum (usage.flush for UsageSummary, usage.collector for LatencySummary), so a
page reading a summary sees exactly what the CSV export of the detailed rows adds up to.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models

from usage.models import DAY, HOUR, LATENCY_COLUMNS, LatencySummary, UsageSummary

# The dimensions of UsageSummary: the account's whole traffic, per key, per endpoint group.
ACCOUNT, KEY, ENDPOINT = "account", "key", "endpoint"


def upsert(
    model: type[models.Model],
    columns: Sequence[str],
    unique: Sequence[str],
    rows: Iterable[Sequence[Any]],  # column values, as the database driver takes them
    added: Sequence[str] = ("count",),
) -> None:
    """Add each row's `added` columns to the row with the same `unique` ones, or insert it.

    The same statement on PostgreSQL and SQLite (3.24+). Rows should come sorted, so that two
    transactions adding to the same rows lock them in the same order.
    """
    table = model._meta.db_table
    # Only the models' own table and column names go into the statement; values are parameters.
    sql = "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}".format(  # noqa: S608
        table,
        ", ".join(columns),
        ", ".join(["%s"] * len(columns)),
        ", ".join(unique),
        ", ".join(f"{name} = {table}.{name} + excluded.{name}" for name in added),
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, list(rows))


def spans_of(hour: datetime) -> tuple[tuple[str, object], ...]:
    """The summary rows an hour adds to, as the database takes their start: its own, its day's."""
    adapt = connection.ops.adapt_datetimefield_value  # raw SQL takes the backend's own format
    return ((HOUR, adapt(hour)), (DAY, adapt(hour.replace(hour=0))))


SUMMARY_COLUMNS = ("account_id", "span", "start", "dimension", "value", "environment", "outcome")


def add_usage_summary(
    account_id: int, hour: datetime, calls: Iterable[tuple[str, str, str, str, int, int]]
) -> None:
    """Add calls, as (key_id, environment, endpoint, outcome, count, units), to UsageSummary."""
    totals: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    for key_id, environment, endpoint, outcome, count, units in calls:
        for dimension, value in ((ACCOUNT, ""), (KEY, key_id), (ENDPOINT, endpoint)):
            total = totals[(dimension, value, environment, outcome)]
            total[0] += count
            total[1] += units
    rows = [
        (account_id, span, start, *dims, count, units)
        for span, start in spans_of(hour)
        for dims, (count, units) in sorted(totals.items())
    ]
    added = ("count", "units")
    upsert(UsageSummary, (*SUMMARY_COLUMNS, *added), SUMMARY_COLUMNS, rows, added=added)


LATENCY_KEY = ("account_id", "span", "start", "endpoint", "status_class")


def add_latency_summary(
    account_id: int, hour: datetime, stats: dict[tuple[str, str], tuple[int, list[int]]]
) -> None:
    """Add (count, histogram) per (endpoint, status class) of one hour to LatencySummary."""
    rows = [
        (account_id, span, start, endpoint, status_class, count, *histogram)
        for span, start in spans_of(hour)
        for (endpoint, status_class), (count, histogram) in sorted(stats.items())
    ]
    added = ("count", *LATENCY_COLUMNS)
    upsert(LatencySummary, (*LATENCY_KEY, *added), LATENCY_KEY, rows, added=added)
