"""What the gateway needs from billing about an account: its period and payment standing.

With a live subscription the period is the subscription's current billing period (read from
its items, as Stripe does since API version 2025-03-31), so a plan change never resets the
quota. The quota is monthly whatever the billing interval: a yearly period is cut into
months from its start (its anchor), the day of the month kept as Stripe keeps it (31 January,
28 or 29 February, 31 March). A renewal left unpaid for BILLING_GRACE_DAYS makes the gateway
answer payment_required.
Without a subscription the period is the calendar month (UTC) and nothing is owed.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings

from accounts.models import Account

if TYPE_CHECKING:
    from billing.models import Subscription


@dataclass(frozen=True, slots=True)
class Standing:
    period_start: datetime
    period_end: datetime
    payment_required: bool
    # When payment_required turns true by itself (a renewal's grace ends), for caches: None when
    # only an event (a webhook, a payment) can change the standing.
    changes_at: datetime | None = None


def calendar_month(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end


def add_months(moment: datetime, months: int) -> datetime:
    """`months` later on the same day of the month, or that month's last day if it is shorter."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


# Longer than any month: a billing period beyond it (a year) gets monthly quota windows.
LONGEST_MONTH = timedelta(days=31)


def quota_window(start: datetime, end: datetime, now: datetime) -> tuple[datetime, datetime]:
    """The month of the billing period [start, end) that holds `now` (the first or last one
    when `now` is outside the period)."""
    if end - start <= LONGEST_MONTH:
        return start, end
    months = 0
    while add_months(start, months + 1) <= now and add_months(start, months + 1) < end:
        months += 1
    return add_months(start, months), min(add_months(start, months + 1), end)


def grace_ends_at(status: str, past_due_since: datetime | None, now: datetime) -> datetime | None:
    """When a past-due renewal's grace ends, if that is still to come (see payment_overdue)."""
    if status != "past_due" or past_due_since is None:
        return None
    ends = past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)
    return ends if ends > now else None


def payment_overdue(status: str, past_due_since: datetime | None, now: datetime) -> bool:
    if status == "unpaid":
        return True
    grace = timedelta(days=settings.BILLING_GRACE_DAYS)
    return status == "past_due" and past_due_since is not None and now >= past_due_since + grace


def standing_for(account: Account, now: datetime | None = None) -> Standing:
    from billing.models import Subscription

    return standing_of(Subscription.objects.current_for(account), now or datetime.now(UTC))


def standing_of(sub: Subscription | None, now: datetime) -> Standing:
    """The standing an account's current subscription (or none) gives it at ``now``."""
    if sub is None or sub.current_period_start is None or sub.current_period_end is None:
        start, end = calendar_month(now)
        return Standing(period_start=start, period_end=end, payment_required=False)
    start, end = quota_window(sub.current_period_start, sub.current_period_end, now)
    return Standing(
        period_start=start,
        period_end=end,
        payment_required=payment_overdue(sub.status, sub.past_due_since, now),
        changes_at=grace_ends_at(sub.status, sub.past_due_since, now),
    )
