"""The provider's view: every account's usage, the top consumers, and who is near their quota."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts.models import Account
from catalog.models import Plan
from usage.models import DAY, HOUR, UsageSummary
from usage.reports import OK
from usage.summaries import ACCOUNT

NEAR_QUOTA_PERCENT = 80


@dataclass(frozen=True)
class AccountUsage:
    account: Account
    plan: Plan | None
    period_calls: int
    day_calls: int
    denied_calls: int
    period_units: int = 0  # what the quota counts (weighted endpoints take their cost)

    @property
    def percent(self) -> float | None:
        quota = self.plan.requests_per_period if self.plan else None
        return round(100 * self.period_units / quota, 1) if quota else None


def live_calls(*conditions: Q, column: str = "count", **filters: object) -> Coalesce:
    """An account's live calls in UsageSummary matching `filters`, as a per-account subquery:
    each one reads the account's own few rows through its unique index."""
    rows = (
        UsageSummary.objects.filter(
            *conditions, account=OuterRef("pk"), dimension=ACCOUNT, environment="live", **filters
        )
        .order_by()
        .values("account")
        .annotate(n=Sum(column))
        .values("n")
    )
    return Coalesce(Subquery(rows), 0)


def all_accounts(now: datetime, month_start: datetime) -> list[AccountUsage]:
    """Every account with live calls this (calendar) month or in the last 24 hours."""
    # The month is whole days: daily rows. The last 24 hours: hourly ones.
    accounts = Account.objects.select_related("plan").annotate(
        period_calls=live_calls(span=DAY, start__gte=month_start, outcome=OK),
        period_units=live_calls(span=DAY, start__gte=month_start, outcome=OK, column="units"),
        denied_calls=live_calls(Q(span=DAY, start__gte=month_start) & ~Q(outcome=OK)),
        day_calls=live_calls(span=HOUR, start__gte=now - timedelta(days=1), outcome=OK),
    )
    default = Plan.objects.filter(is_default=True).first()
    return [
        AccountUsage(
            account=account,
            plan=account.plan or default,
            period_calls=account.period_calls,
            day_calls=account.day_calls,
            denied_calls=account.denied_calls,
            period_units=account.period_units,
        )
        for account in accounts
        if account.period_calls or account.day_calls or account.denied_calls
    ]


def overview(now: datetime, month_start: datetime) -> dict[str, list[AccountUsage]]:
    usage = all_accounts(now, month_start)
    return {
        "accounts": sorted(usage, key=lambda u: -u.period_calls),
        "top_today": sorted(usage, key=lambda u: -u.day_calls)[:10],
        "near_quota": sorted(
            (u for u in usage if u.percent is not None and u.percent >= NEAR_QUOTA_PERCENT),
            key=lambda u: -(u.percent or 0),
        ),
    }
