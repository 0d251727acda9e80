"""The rows behind the CSV export and the usage API: one per bucket, key, endpoint and outcome."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from accounts.models import Account
from usage.models import DailyUsage, HourlyUsage
from usage.reports import key_names

EXPORT_CHUNK = 2000  # rows fetched at a time: memory stays flat however long the range


@dataclass(frozen=True)
class ExportQuery:
    account: Account
    start: date
    end: date  # inclusive
    by: str  # "hour" or "day"

    COLUMNS = (
        "start",
        "key_id",
        "key_name",
        "environment",
        "product",
        "endpoint",
        "outcome",
        "count",
        "units",  # quota units the admitted calls consumed (weighted endpoints take their cost)
    )

    @classmethod
    def from_form(cls, account: Account, data: dict[str, Any]) -> ExportQuery:
        return cls(account, data["start"], data["end"], data["by"])


# The export's order after the bucket: the order of the rollups' unique index.
ORDER = ("key_id", "product", "endpoint", "outcome")
Position = tuple[datetime | date, str, str, str, str]  # (bucket, *ORDER) of one row


def export_rows(
    query: ExportQuery, offset: int = 0, limit: int | None = None, after: Position | None = None
) -> Iterator[tuple[object, ...]]:
    """The rows in (bucket, key, product, endpoint, outcome) order, the order of the rollups'
    unique index, so the database streams them without sorting. `after` continues right after
    a row, as deep as it lies, where an `offset` has to walk past every row it skips."""
    names = key_names(query.account)
    rows: QuerySet[HourlyUsage] | QuerySet[DailyUsage]
    if query.by == "hour":
        start = datetime.combine(query.start, datetime.min.time(), UTC)
        end = datetime.combine(query.end + timedelta(days=1), datetime.min.time(), UTC)
        rows = HourlyUsage.objects.filter(account=query.account, hour__gte=start, hour__lt=end)
        bucket = "hour"
    else:
        rows = DailyUsage.objects.filter(
            account=query.account, day__gte=query.start, day__lte=query.end
        )
        bucket = "day"
    fields = (bucket, "key_id", "environment", "product", "endpoint", "outcome", "count", "units")
    ordered = rows.order_by(bucket, *ORDER).values_list(*fields)
    if limit is None and connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
        fetched = in_pages(ordered, bucket, offset, after)
    else:
        if after is not None:
            ordered = ordered.filter(rows_after(bucket, after))
        page = ordered[offset : offset + limit] if limit is not None else ordered[offset:]
        fetched = page.iterator(chunk_size=EXPORT_CHUNK)
    for moment, key_id, environment, product, endpoint, outcome, count, units in fetched:
        stamp = moment.astimezone(UTC).isoformat() if bucket == "hour" else moment.isoformat()
        name = names.get(key_id, "")
        yield (stamp, key_id, name, environment, product, endpoint, outcome, count, units)


def in_pages(
    ordered: QuerySet[Any, tuple[Any, ...]], bucket: str, offset: int, after: Position | None
) -> Iterator[tuple[Any, ...]]:
    """The rows page by page, each page a query of its own that continues after the last row.

    For DISABLE_SERVER_SIDE_CURSORS (PgBouncer in transaction pooling, where a cursor cannot
    outlive its statement): without a server-side cursor, iterator() would fetch the whole
    range into memory at once.
    """
    position = after
    while True:
        rows = ordered.filter(rows_after(bucket, position)) if position is not None else ordered
        page = list(rows[offset : offset + EXPORT_CHUNK])
        yield from page
        if len(page) < EXPORT_CHUNK:
            return
        moment, key_id, _, product, endpoint, outcome, _, _ = page[-1]
        position, offset = (moment, key_id, product, endpoint, outcome), 0


def rows_after(bucket: str, position: Position) -> Q:
    """Rows that come after `position` in the export's order."""
    fields = (bucket, *ORDER)
    after = Q(**{f"{fields[-1]}__gt": position[-1]})
    for name, value in zip(reversed(fields[:-1]), reversed(position[:-1]), strict=True):
        after = Q(**{f"{name}__gt": value}) | (Q(**{name: value}) & after)
    # The bucket once more as a plain range, which the database seeks to in the index.
    return Q(**{f"{bucket}__gte": position[0]}) & after


def position_of(row: tuple[object, ...], by: str) -> Position:
    """The position of a row export_rows yielded, for `after`."""
    stamp, key_id, _, _, product, endpoint, outcome, _, _ = row
    moment = datetime.fromisoformat(str(stamp)) if by == "hour" else date.fromisoformat(str(stamp))
    return (moment, str(key_id), str(product), str(endpoint), str(outcome))
