"""The console's usage figures, computed in the background and read whole by the page.

Summing 30 days of every account's daily rollups costs seconds on a year of data over
thousands of accounts (bench/console.py), far over the page's 200 ms. The figures move slowly
(30-day totals), so Celery beat recomputes them every SELLER_CONSOLE_REFRESH_SECONDS (300) and
the page reads the newest snapshot: one row. Money figures (MRR, plans, trials, overdue) stay
live: they read subscriptions and the plan history, a few rows per account.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from accounts.models import Account
from seller import figures
from seller.models import ConsoleSnapshot

KEPT = 3  # older snapshots are deleted; a few stay for a page reading while one is written


def compute(now: datetime) -> dict[str, object]:
    return {
        "top_consumers": figures.top_consumers(now),
        "endpoints": figures.endpoint_popularity(now),
        "refusals": figures.refusals(now),
        "calls_by_day": figures.calls_by_day(now),
    }


def refresh(now: datetime | None = None) -> ConsoleSnapshot:
    now = now or timezone.now()
    snapshot = ConsoleSnapshot.objects.create(computed_at=now, figures=compute(now))
    stale = ConsoleSnapshot.objects.order_by("-computed_at", "-id").values_list("pk", flat=True)
    ConsoleSnapshot.objects.filter(pk__in=list(stale[KEPT:])).delete()
    return snapshot


@dataclass(frozen=True)
class UsageFigures:
    computed_at: datetime
    top_consumers: list[tuple[Account, int]]
    endpoints: list[tuple[str, int]]
    refusals: list[tuple[str, str, int]]
    calls_by_day: dict[str, list[float]]


def latest() -> UsageFigures:
    """The newest snapshot (computed now if there is none yet, e.g. right after install),
    with the top consumers' accounts as they are now (renamed, or gone)."""
    snapshot = ConsoleSnapshot.objects.order_by("-computed_at", "-id").first() or refresh()
    data = snapshot.figures
    accounts = Account.objects.in_bulk([account_id for account_id, _ in data["top_consumers"]])
    return UsageFigures(
        computed_at=snapshot.computed_at,
        top_consumers=[
            (accounts[account_id], calls)
            for account_id, calls in data["top_consumers"]
            if account_id in accounts
        ],
        endpoints=[(endpoint, calls) for endpoint, calls in data["endpoints"]],
        refusals=[(reason, endpoint, calls) for reason, endpoint, calls in data["refusals"]],
        calls_by_day=data["calls_by_day"],
    )
