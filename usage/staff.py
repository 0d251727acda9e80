"""The provider's view: every account's usage, the top consumers, and who is near their quota."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, Sum

from accounts.models import Account
from catalog.models import Plan
from usage.models import HourlyUsage
from usage.reports import OK

NEAR_QUOTA_PERCENT = 80


@dataclass(frozen=True)
class AccountUsage:
    account: Account
    plan: Plan | None
    period_calls: int
    day_calls: int
    denied_calls: int

    @property
    def percent(self) -> float | None:
        quota = self.plan.requests_per_period if self.plan else None
        return round(100 * self.period_calls / quota, 1) if quota else None


def all_accounts(now: datetime, month_start: datetime) -> list[AccountUsage]:
    """One grouped query for everyone (live calls only; calendar month as the period)."""
    totals = (
        HourlyUsage.objects.filter(
            hour__gte=min(month_start, now - timedelta(days=1)), environment="live"
        )
        .values("account_id")
        .annotate(
            period=Sum("count", filter=Q(outcome=OK, hour__gte=month_start)),
            day=Sum("count", filter=Q(outcome=OK, hour__gte=now - timedelta(days=1))),
            denied=Sum("count", filter=~Q(outcome=OK) & Q(hour__gte=month_start)),
        )
    )
    by_account = {row["account_id"]: row for row in totals}
    default = Plan.objects.filter(is_default=True).first()
    accounts = Account.objects.filter(id__in=by_account).select_related("plan")
    return [
        AccountUsage(
            account=account,
            plan=account.plan or default,
            period_calls=by_account[account.id]["period"] or 0,
            day_calls=by_account[account.id]["day"] or 0,
            denied_calls=by_account[account.id]["denied"] or 0,
        )
        for account in accounts
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
