"""What the gateway needs from billing about an account: its period and payment standing.

Until an account has a subscription, its period is the calendar month (UTC) and it owes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from accounts.models import Account


@dataclass(frozen=True, slots=True)
class Standing:
    period_start: datetime
    period_end: datetime
    payment_required: bool


def calendar_month(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def standing_for(account: Account, now: datetime | None = None) -> Standing:
    start, end = calendar_month(now or datetime.now(UTC))
    return Standing(period_start=start, period_end=end, payment_required=False)
