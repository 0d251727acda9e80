"""The customer's overage spend cap, as the gateway enforces it: a hard limit on period calls."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal

from accounts.models import Account
from catalog.models import Plan
from usage.models import UsagePreferences


def period_limit(account: Account, plan: Plan) -> tuple[int | None, bool]:
    """(calls allowed this period or None for unlimited, whether that is a hard cap).

    On a plan with overage, a spend cap of $X allows the quota plus the calls $X buys, then
    stops: the gateway answers quota_exceeded until the next period or a higher cap.
    """
    quota = plan.requests_per_period
    price = plan.overage_price_per_1000
    if quota is None or price is None:
        return quota, True
    cap = (
        UsagePreferences.objects.filter(account=account).values_list("spend_cap", flat=True).first()
    )
    if cap is None:
        return quota, False
    if price <= 0:
        return quota, False  # free overage: a spend cap cannot bind
    extra = (Decimal(cap) * 1000 / price).to_integral_value(rounding=ROUND_FLOOR)
    return quota + int(extra), True
