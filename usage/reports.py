"""What the usage pages, the CSV export and the usage API show, computed from the rollups."""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar, cast

from django.db.models import Q, QuerySet, Sum

from accounts.models import Account
from apikeys.models import ApiKey
from billing.standing import standing_for
from core.redis_keys import batches_key, live_hours_key
from portal.redis_client import get_redis
from usage.collector import percentile
from usage.counters import parse_usage
from usage.models import DAY, HOUR, LATENCY_COLUMNS, LatencySummary, UsageSummary
from usage.summaries import ACCOUNT, ENDPOINT, KEY

OK = "ok"
S = TypeVar("S", UsageSummary, LatencySummary)
RANGE_NAMES = ("24h", "7d", "30d", "period", "previous")
RANGE_LABELS = {
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "period": "This period",
    "previous": "Previous period",
}
# Hourly points up to a week; daily beyond, so no chart reads more than ~200 buckets.
HOURLY_UP_TO = timedelta(days=7)
# The glance projects the period's calls only once this much of it has passed.
PROJECT_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class Window:
    name: str
    start: datetime
    end: datetime

    @property
    def by_hour(self) -> bool:
        return self.end - self.start <= HOURLY_UP_TO

    @property
    def label(self) -> str:
        return RANGE_LABELS.get(self.name, f"{self.start:%Y-%m-%d} to {self.end:%Y-%m-%d}")


def floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def window_for(name: str, account: Account, now: datetime) -> Window:
    end = floor_hour(now) + timedelta(hours=1)
    standing = standing_for(account, now)
    if name == "7d":
        return Window(name, end - timedelta(days=7), end)
    if name == "30d":
        return Window(name, end - timedelta(days=30), end)
    if name == "period":
        return Window(name, standing.period_start, standing.period_end)
    if name == "previous":
        # Plans are monthly. (Asking standing_for about an earlier moment would not do: with a
        # subscription it answers the current period, the only one Tollgate keeps.)
        return Window(name, month_before(standing.period_start), standing.period_start)
    return Window("24h", end - timedelta(hours=24), end)


def month_before(moment: datetime) -> datetime:
    """The same day and time a month earlier, or the month's last day (March 31 -> February 28)."""
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def day_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def in_window(rows: QuerySet[S], window: Window) -> QuerySet[S]:
    """A summary's rows of a window: hourly rows up to a week, daily ones (whole days) beyond."""
    if window.by_hour:
        return rows.filter(span=HOUR, start__gte=window.start, start__lt=window.end)
    return rows.filter(span=DAY, start__gte=day_start(window.start), start__lt=window.end)


def summary_in(account: Account, window: Window, dimension: str) -> QuerySet[UsageSummary]:
    return in_window(UsageSummary.objects.filter(account=account, dimension=dimension), window)


def bucket_starts(window: Window) -> list[datetime]:
    step = timedelta(hours=1) if window.by_hour else timedelta(days=1)
    current = window.start if window.by_hour else day_start(window.start)
    starts = []
    while current < window.end:
        starts.append(current)
        current += step
    return starts


def as_moment(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, datetime.min.time(), UTC)


def requests_over_time(account: Account, window: Window) -> dict[str, list[float]]:
    """uPlot's columns: unix seconds, admitted calls, denied calls, one value per bucket."""
    totals = (
        summary_in(account, window, ACCOUNT)
        .values("start")
        .annotate(ok=Sum("count", filter=Q(outcome=OK)), denied=Sum("count", filter=~Q(outcome=OK)))
    )
    by_start: dict[datetime, dict[str, Any]] = {
        row["start"].astimezone(UTC): dict(row) for row in totals
    }
    starts = bucket_starts(window)
    return {
        "t": [start.timestamp() for start in starts],
        "ok": [float(by_start.get(start, {}).get("ok") or 0) for start in starts],
        "denied": [float(by_start.get(start, {}).get("denied") or 0) for start in starts],
    }


# What each breakdown reads: (UsageSummary dimension, the field it groups by).
BREAKDOWNS = {
    "key_id": (KEY, "value"),
    "endpoint": (ENDPOINT, "value"),
    "outcome": (ACCOUNT, "outcome"),
}


@dataclass(frozen=True)
class BreakdownRow:
    label: str
    ok: int
    denied: int
    units: int = 0  # of the admitted calls: each takes its endpoint's cost

    @property
    def total(self) -> int:
        return self.ok + self.denied


def breakdown(
    account: Account, window: Window, dimension: str, limit: int = 20
) -> list[BreakdownRow]:
    """Calls by key_id, endpoint or outcome, largest first."""
    summary, field = BREAKDOWNS[dimension]
    totals = (
        summary_in(account, window, summary)
        .values(field)
        .annotate(
            ok=Sum("count", filter=Q(outcome=OK)),
            denied=Sum("count", filter=~Q(outcome=OK)),
            units=Sum("units"),
        )
    )
    rows = [
        BreakdownRow(row[field], row["ok"] or 0, row["denied"] or 0, row["units"] or 0)
        for row in totals
    ]
    if dimension == "key_id":
        names = key_names(account)
        rows = [replace(r, label=names.get(r.label, r.label)) for r in rows]
    return sorted(rows, key=lambda r: r.total, reverse=True)[:limit]


def denials(account: Account, window: Window) -> list[tuple[str, int]]:
    totals = (
        summary_in(account, window, ACCOUNT)
        .exclude(outcome=OK)
        .values("outcome")
        .annotate(n=Sum("count"))
    )
    return sorted(((row["outcome"], row["n"]) for row in totals), key=lambda r: -r[1])


def key_names(account: Account) -> dict[str, str]:
    return {
        public_id: f"{name} ({prefix}…)"
        for public_id, name, prefix in ApiKey.objects.filter(account=account).values_list(
            "public_id", "name", "prefix"
        )
    }


def unflushed_live_units(account: Account) -> int:
    """Units of admitted live calls still in Redis, not yet in the rollups (at most one flush
    interval)."""
    client = get_redis()
    live_ids = set(
        ApiKey.objects.filter(account=account, environment="live").values_list(
            "public_id", flat=True
        )
    )
    # The account's own sets name its unflushed hashes: no SCAN, whatever the keyspace holds.
    names = client.smembers(live_hours_key(account.id)) | client.smembers(batches_key(account.id))
    total = 0
    for name in names:
        # Bytes: the client does not decode responses, which redis-py's types cannot tell.
        counts = parse_usage(client.hgetall(name))  # type: ignore[arg-type]
        total += sum(
            tally.units
            for (key_id, _, _, outcome), tally in counts.items()
            if outcome == OK and key_id in live_ids
        )
    return total


@dataclass(frozen=True)
class Glance:
    period_start: datetime
    period_end: datetime
    used: int
    quota: int | None
    projected: int  # the period's calls at this pace; `used` until the pace is known
    projection_ready: bool  # a day of the period has passed: a pace worth extrapolating
    projection_from: datetime  # when it will be
    days_left: int
    plan_name: str
    plan_price: Decimal
    currency: str
    overage_price_per_1000: Decimal | None

    @property
    def percent(self) -> float | None:
        return round(100 * self.used / self.quota, 1) if self.quota else None

    @property
    def projected_overage_calls(self) -> int:
        return max(0, self.projected - self.quota) if self.quota else 0

    @property
    def projected_bill(self) -> Decimal:
        overage = Decimal(0)
        if self.overage_price_per_1000 is not None:
            overage = self.overage_price_per_1000 * Decimal(self.projected_overage_calls) / 1000
        return (self.plan_price + overage).quantize(Decimal("0.01"))


def live_units(account: Account, start: datetime, end: datetime) -> int:
    """Quota units admitted live calls consumed in a period (what the quota and overage count;
    a call of a weighted endpoint takes its cost). Rollups are hourly: the hour the period
    starts in counts whole (a subscription starting at 10:45 counts 10:00-10:45 too)."""
    rows = live_admitted_by_hour(account, floor_hour(start), end)
    return rows.aggregate(n=Sum("units"))["n"] or 0


def live_admitted_by_hour(
    account: Account, start: datetime, end: datetime
) -> QuerySet[UsageSummary]:
    return UsageSummary.objects.filter(
        account=account, dimension=ACCOUNT, span=HOUR, environment="live", outcome=OK,
        start__gte=start, start__lt=end,
    )  # fmt: skip


def glance(account: Account, now: datetime) -> Glance:
    standing = standing_for(account, now)
    plan = account.effective_plan()
    used = live_units(account, standing.period_start, standing.period_end)
    used += unflushed_live_units(account)
    elapsed = (now - standing.period_start).total_seconds()
    length = (standing.period_end - standing.period_start).total_seconds()
    # An hour's calls times 720 is noise, not a forecast: project only from a whole day on.
    ready = elapsed >= PROJECT_AFTER.total_seconds()
    return Glance(
        period_start=standing.period_start,
        period_end=standing.period_end,
        used=used,
        quota=plan.requests_per_period if plan else None,
        projected=round(used * length / elapsed) if ready else used,
        projection_ready=ready,
        projection_from=standing.period_start + PROJECT_AFTER,
        days_left=max(0, (standing.period_end - now).days),
        plan_name=plan.name if plan else "No plan",
        plan_price=plan.monthly_price if plan else Decimal(0),
        currency=(plan.currency if plan else "usd").upper(),
        overage_price_per_1000=plan.overage_price_per_1000 if plan else None,
    )


def burn_down(
    account: Account, window: Window, quota: int | None, now: datetime
) -> dict[str, list[float]]:
    """Quota left at the period's start, at each UTC midnight since, and now: every point
    inside the period, so the chart's axis is the period's (the page projects the rest). Empty
    before the period starts."""
    end = min(window.end, now)
    if end <= window.start:
        return {"t": [], "left": []}
    moments = [window.start]
    midnight = as_moment(window.start.date()) + timedelta(days=1)
    while midnight < end:
        moments.append(midnight)
        midnight += timedelta(days=1)
    moments.append(end)
    rows = live_admitted_by_hour(account, floor_hour(window.start), end).order_by("start")
    hours = iter(rows.values_list("start", "units"))
    pending = next(hours, None)
    used, left = 0, [float(quota or 0)]  # at the start, however the hour began
    for moment in moments[1:]:
        while pending is not None and pending[0] < moment:
            used += pending[1]
            pending = next(hours, None)
        left.append(float((quota or 0) - used))
    return {"t": [m.timestamp() for m in moments], "left": left}


@dataclass(frozen=True)
class EndpointLatency:
    endpoint: str
    calls: int
    p50_ms: float | None
    p95_ms: float | None


def status_classes(account: Account, window: Window) -> list[tuple[str, int]]:
    rows = (
        in_window(LatencySummary.objects.filter(account=account), window)
        .values("status_class")
        .annotate(n=Sum("count"))
        .order_by("status_class")
    )
    return [(row["status_class"], row["n"]) for row in rows]


def endpoint_latency(account: Account, window: Window) -> list[EndpointLatency]:
    rows = (
        in_window(LatencySummary.objects.filter(account=account), window)
        .values("endpoint")
        .annotate(**{column: Sum(column) for column in LATENCY_COLUMNS})
    )
    found = []
    for row in rows:
        # The annotated histogram columns are named at run time: not in the stubs' row type.
        histogram = [cast(dict[str, int], row)[column] for column in LATENCY_COLUMNS]
        found.append(
            EndpointLatency(
                row["endpoint"], sum(histogram), percentile(histogram, 0.5),
                percentile(histogram, 0.95),
            )
        )  # fmt: skip
    return sorted(found, key=lambda e: -e.calls)
