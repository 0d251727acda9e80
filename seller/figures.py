"""The seller's figures: revenue and its movement, plans, trials, the sign-up → first call →
paid funnel, consumers, endpoints and refusals, overdue accounts.

Subscriptions are few (one row per customer): they are read whole. Calls come from
UsageSummary's daily rows, a few per account and day, so a month is a few thousand rows even on
the usage benchmark's year of data.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, Sum

from accounts.models import Account
from billing.models import Subscription
from usage.models import DAY, UsageSummary
from usage.summaries import ACCOUNT, ENDPOINT

# Monthly recurring revenue counts paying subscriptions: a trial pays nothing yet, and an
# invoice past due is still owed (it leaves MRR when Stripe ends the subscription).
MRR_STATUSES = ("active", "past_due")
OVERDUE_STATUSES = ("past_due", "unpaid")
WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Movement:
    new: Decimal  # subscriptions started this month and paying now
    churn: Decimal  # subscriptions that ended this month, at their plan's price


@dataclass(frozen=True)
class Funnel:
    signed_up: int
    first_call: int
    paid: int


@dataclass(frozen=True)
class Trials:
    running: int
    ended: int
    converted: int

    @property
    def conversion_percent(self) -> float | None:
        return round(100 * self.converted / self.ended, 1) if self.ended else None


def price(sub: Subscription) -> Decimal:
    return sub.plan.monthly_price if sub.plan else Decimal(0)


def subscriptions() -> list[Subscription]:
    return list(Subscription.objects.select_related("plan", "account"))


def trial_end(sub: Subscription) -> datetime:
    return sub.started_at + timedelta(days=sub.plan.trial_days if sub.plan else 0)


def has_paid(sub: Subscription) -> bool:
    """Paying now, or paid before it ended: a subscription that ended in its trial never did."""
    if sub.status in MRR_STATUSES:
        return True
    return sub.ended_at is not None and sub.ended_at > trial_end(sub)


def mrr(subs: list[Subscription]) -> Decimal:
    return sum((price(s) for s in subs if s.status in MRR_STATUSES), Decimal(0))


def movement(subs: list[Subscription], month_start: datetime) -> Movement:
    new = sum(
        (price(s) for s in subs if s.started_at >= month_start and s.status in MRR_STATUSES),
        Decimal(0),
    )
    churn = sum(
        (
            price(s)
            for s in subs
            if s.ended_at is not None and s.ended_at >= month_start and has_paid(s)
        ),
        Decimal(0),
    )
    return Movement(new=new, churn=churn)


def by_plan(subs: list[Subscription]) -> list[tuple[str, int, Decimal]]:
    """Live subscriptions (trials included) per plan, and the MRR each plan brings."""
    counts: Counter[str] = Counter()
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for sub in subs:
        if sub.is_live:
            name = sub.plan.name if sub.plan else "(no plan)"
            counts[name] += 1
            if sub.status in MRR_STATUSES:
                revenue[name] += price(sub)
    return [(name, n, revenue[name]) for name, n in counts.most_common()]


def trials(subs: list[Subscription], now: datetime) -> Trials:
    """Trials running, trials ended, and those that went on to pay after the trial."""
    running = ended = converted = 0
    for sub in subs:
        if not (sub.plan and sub.plan.trial_days):
            continue
        if sub.status == "trialing":
            running += 1
        elif trial_end(sub) <= now or sub.ended_at is not None:
            ended += 1
            converted += has_paid(sub)
    return Trials(running=running, ended=ended, converted=converted)


def funnel(subs: list[Subscription], now: datetime) -> Funnel:
    """Accounts opened in the last 30 days: how many made a call, how many paid."""
    opened = Account.objects.filter(created_at__gte=now - WINDOW)
    called = opened.filter(pk__in=UsageSummary.objects.filter(dimension=ACCOUNT).values("account"))
    opened_ids = set(opened.values_list("pk", flat=True))
    paid = {s.account_id for s in subs if s.account_id in opened_ids and has_paid(s)}
    return Funnel(signed_up=len(opened_ids), first_call=called.count(), paid=len(paid))


def daily(now: datetime, dimension: str) -> Q:
    return Q(span=DAY, dimension=dimension, environment="live", start__gte=now - WINDOW)


def top_consumers(now: datetime, limit: int = 10) -> list[tuple[Account, int]]:
    rows = (
        UsageSummary.objects.filter(daily(now, ACCOUNT), outcome="ok")
        .values("account")
        .annotate(n=Sum("count"))
        .order_by("-n")[:limit]
    )
    accounts = Account.objects.in_bulk([row["account"] for row in rows])
    return [(accounts[row["account"]], row["n"]) for row in rows]


def endpoint_popularity(now: datetime, limit: int = 20) -> list[tuple[str, int]]:
    rows = (
        UsageSummary.objects.filter(daily(now, ENDPOINT), outcome="ok")
        .values("value")
        .annotate(n=Sum("count"))
        .order_by("-n")[:limit]
    )
    return [(row["value"], row["n"]) for row in rows]


def refusals(now: datetime, limit: int = 20) -> list[tuple[str, str, int]]:
    """Where customers are refused, by reason and endpoint: the upsell list."""
    rows = (
        UsageSummary.objects.filter(daily(now, ENDPOINT))
        .exclude(outcome="ok")
        .values("outcome", "value")
        .annotate(n=Sum("count"))
        .order_by("-n")[:limit]
    )
    return [(row["outcome"], row["value"], row["n"]) for row in rows]


def calls_by_day(now: datetime) -> dict[str, list[float]]:
    """Live calls a day across every account, admitted and refused, for the chart."""
    admitted: Counter[datetime] = Counter()
    refused: Counter[datetime] = Counter()
    rows = (
        UsageSummary.objects.filter(daily(now, ACCOUNT))
        .values("start", "outcome")
        .annotate(n=Sum("count"))
        .values_list("start", "outcome", "n")
    )
    for start, outcome, n in rows:
        (admitted if outcome == "ok" else refused)[start] += n
    days = sorted(set(admitted) | set(refused))
    return {
        "t": [day.timestamp() for day in days],
        "ok": [float(admitted[day]) for day in days],
        "denied": [float(refused[day]) for day in days],
    }


def overdue(subs: list[Subscription]) -> list[Subscription]:
    late = [s for s in subs if s.status in OVERDUE_STATUSES]
    return sorted(late, key=lambda s: s.past_due_since or s.started_at)
