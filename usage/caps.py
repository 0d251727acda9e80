"""The customer's overage spend cap, as the gateway enforces it: a hard limit on period calls."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from typing import Any

from django.db.models import Subquery

from catalog.models import Plan
from usage.models import UsagePreferences


def spend_cap_of(account_ref: Any) -> Subquery:
    """The account's spend cap (None: none), as an expression for an account query to annotate:
    one query for a batch of accounts, not one more each (gateway.policy reads them in 500s)."""
    caps = UsagePreferences.objects.filter(account=account_ref).values("spend_cap")
    return Subquery(caps[:1])


def period_limit(plan: Plan, spend_cap: Decimal | None) -> tuple[int | None, bool]:
    """(calls allowed this period or None for unlimited, whether that is a hard cap), for an
    account on ``plan`` whose spend cap is ``spend_cap`` (spend_cap_of).

    On a plan with overage, a spend cap of $X allows the quota plus the calls $X buys, then
    stops: the gateway answers quota_exceeded until the next period or a higher cap.
    """
    quota = plan.requests_per_period
    price = plan.overage_price_per_1000
    if quota is None or price is None:
        return quota, True
    if spend_cap is None:
        return quota, False
    if price <= 0:
        return quota, False  # free overage: a spend cap cannot bind
    extra = (Decimal(spend_cap) * 1000 / price).to_integral_value(rounding=ROUND_FLOOR)
    return quota + int(extra), True
