"""The rows behind the CSV export and the usage API: one per bucket, key, endpoint and outcome."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import QuerySet

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
    )

    @classmethod
    def from_form(cls, account: Account, data: dict[str, Any]) -> ExportQuery:
        return cls(account, data["start"], data["end"], data["by"])


def export_rows(query: ExportQuery) -> Iterator[tuple[object, ...]]:
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
    fields = (bucket, "key_id", "environment", "product", "endpoint", "outcome", "count")
    ordered = rows.order_by(bucket, "key_id", "product", "endpoint", "outcome").values_list(*fields)
    for moment, key_id, environment, product, endpoint, outcome, count in ordered.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        stamp = moment.astimezone(UTC).isoformat() if bucket == "hour" else moment.isoformat()
        yield (stamp, key_id, names.get(key_id, ""), environment, product, endpoint, outcome, count)
