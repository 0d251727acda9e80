"""The seller's figures: revenue and its movement, plans, trials, the sign-up → first call →
paid funnel, consumers, endpoints and refusals, overdue accounts.

Every figure is an aggregate computed by the database, so the page costs a fixed number of
queries however many accounts there are (tests/seller count them). MRR and its movement come
from billing's PlanChange history (billing/revenue.py): each row carries the MRR before and
after, so a month's movement is a sum grouped by kind, and the MRR at a month's end is the sum
of every change up to it. Calls come from UsageSummary's daily rows (indexed by span,
dimension and day across accounts); summing them over every account is the slow part, so
those figures are computed in the background (seller/snapshot.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Round, TruncMonth
from django.db.models.lookups import GreaterThan

from accounts.models import Account
from billing.models import LIVE_STATUSES, MovementKind, PlanChange, Subscription
from billing.revenue import MRR_STATUSES, ZERO
from catalog.models import Plan, PlanProduct
from usage.models import DAY, UsageSummary
from usage.summaries import ACCOUNT, ENDPOINT

OVERDUE_STATUSES = ("past_due", "unpaid")
WINDOW = timedelta(days=30)
MONTHS_SHOWN = 12
OVERDUE_SHOWN = 50
MOVEMENTS = (
    MovementKind.NEW,
    MovementKind.EXPANSION,
    MovementKind.CONTRACTION,
    MovementKind.CHURN,
)
MONEY = DecimalField(max_digits=14, decimal_places=2)
NO_PRODUCT = "(no product)"


@dataclass
class Month:
    """One month of MRR: where it started, each movement, where it ended. `opening` is the
    balance recorded when the history began (the upgrade that added it), not a movement."""

    start: datetime
    mrr_at_start: Decimal = ZERO
    opening: Decimal = ZERO
    moves: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    @property
    def new(self) -> Decimal:
        return self.moves[MovementKind.NEW]

    @property
    def expansion(self) -> Decimal:
        return self.moves[MovementKind.EXPANSION]

    @property
    def contraction(self) -> Decimal:
        return self.moves[MovementKind.CONTRACTION]

    @property
    def churn(self) -> Decimal:
        return self.moves[MovementKind.CHURN]

    @property
    def contraction_lost(self) -> Decimal:
        """What contraction took away, as a positive amount (the page puts the minus sign)."""
        return -self.contraction

    @property
    def churn_lost(self) -> Decimal:
        return -self.churn

    @property
    def mrr_at_end(self) -> Decimal:
        return self.mrr_at_start + self.opening + sum(self.moves.values(), ZERO)


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


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    return (start + timedelta(days=32)).replace(day=1)


def mrr_by_month(now: datetime, shown: int = MONTHS_SHOWN) -> list[Month]:
    """The last `shown` months of MRR movement, oldest first, from the month the history began
    (earlier months are unknown, not zero). One grouped query."""
    rows = (
        PlanChange.objects.annotate(month=TruncMonth("at", tzinfo=UTC))
        .values("month", "kind")
        .annotate(total=Sum(F("mrr") - F("previous_mrr"), output_field=MONEY))
        .order_by("month")
    )
    by_month: dict[datetime, dict[str, Decimal]] = defaultdict(dict)
    for row in rows:
        by_month[row["month"]][row["kind"]] = row["total"]
    if not by_month:
        return []
    months: list[Month] = []
    running = ZERO
    cursor, last = min(by_month), month_start(now)
    while cursor <= last:
        month = Month(start=cursor, mrr_at_start=running)
        for kind, total in by_month.get(cursor, {}).items():
            if kind == MovementKind.OPENING:
                month.opening += total
            elif kind in MOVEMENTS:
                month.moves[kind] += total
        running = month.mrr_at_end
        months.append(month)
        cursor = next_month(cursor)
    return months[-shown:]


def monthly_price() -> Case:
    """A subscription's share of MRR, as billing.revenue.monthly_amount computes it."""
    return Case(
        When(~Q(status__in=MRR_STATUSES), then=Value(ZERO)),
        When(
            interval="year",
            plan__yearly_price__isnull=False,
            then=Round(F("plan__yearly_price") / 12, 2),
        ),
        default=Coalesce(F("plan__monthly_price"), Value(ZERO)),
        output_field=MONEY,
    )


def by_plan() -> list[tuple[str, int, Decimal]]:
    """Live subscriptions (trials included) per plan, and the MRR each plan brings."""
    rows = (
        Subscription.objects.filter(status__in=LIVE_STATUSES)
        .values("plan__name")
        .annotate(n=Count("pk"), revenue=Sum(monthly_price()))
        .order_by("-n", "plan__name")
    )
    return [(row["plan__name"] or "(no plan)", row["n"], row["revenue"] or ZERO) for row in rows]


def by_product() -> list[tuple[str, Decimal]]:
    """The MRR each API product brings: a plan's MRR split evenly across the products it
    includes, to the cent (the cents left over go to its first products by name, so the
    products add up to the MRR); a plan without products counts as NO_PRODUCT. Two grouped
    queries: MRR per plan, and the products of every plan (plans are few)."""
    plan_mrr = dict(
        Subscription.objects.filter(status__in=MRR_STATUSES)
        .values("plan_id")
        .annotate(revenue=Sum(monthly_price()))
        .values_list("plan_id", "revenue")
    )
    products: dict[int, list[str]] = defaultdict(list)
    for plan_id, name in PlanProduct.objects.filter(plan_id__in=plan_mrr.keys()).values_list(
        "plan_id", "product__name"
    ):
        products[plan_id].append(name)
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for plan_id, revenue in plan_mrr.items():
        for name, share in split_evenly(revenue or ZERO, products.get(plan_id, [NO_PRODUCT])):
            totals[name] += share
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def split_evenly(amount: Decimal, names: list[str]) -> list[tuple[str, Decimal]]:
    """`amount` in equal shares to the cent; the first names by sort order take a leftover cent
    each, so the shares add up to `amount` exactly."""
    cents = int(amount * 100)
    share, left_over = divmod(cents, len(names))
    return [
        (name, Decimal(share + (1 if i < left_over else 0)) / 100)
        for i, name in enumerate(sorted(names))
    ]


def trials(now: datetime) -> Trials:
    """Trials running, trials ended, and those that went on to pay after the trial. A trial
    ends its plan's `trial_days` after the subscription started; it converted if the
    subscription pays now or ended after the trial. One aggregate query: plans are few, so each
    plan's trial length is a constant of the query (portable date arithmetic)."""
    over, paid = Q(pk__in=[]), Q(pk__in=[])
    for plan_id, days in Plan.objects.filter(trial_days__gt=0).values_list("pk", "trial_days"):
        length = timedelta(days=days)
        trial_end = ExpressionWrapper(F("started_at") + length, output_field=DateTimeField())
        on_plan = Q(plan_id=plan_id)
        over |= on_plan & (Q(started_at__lte=now - length) | Q(ended_at__isnull=False))
        paid |= on_plan & Q(GreaterThan(F("ended_at"), trial_end))
    over &= ~Q(status="trialing")
    totals = Subscription.objects.filter(plan__trial_days__gt=0).aggregate(
        running=Count("pk", filter=Q(status="trialing")),
        ended=Count("pk", filter=over),
        converted=Count("pk", filter=over & (Q(status__in=MRR_STATUSES) | paid)),
    )
    return Trials(**totals)


def funnel(now: datetime) -> Funnel:
    """Accounts opened in the last 30 days: how many made a call, how many ever paid (had MRR
    in their plan history). One query."""
    called = UsageSummary.objects.filter(account=OuterRef("pk"), dimension=ACCOUNT)
    paid = PlanChange.objects.filter(account=OuterRef("pk"), mrr__gt=0)
    totals = Account.objects.filter(created_at__gte=now - WINDOW).aggregate(
        signed_up=Count("pk"),
        first_call=Count("pk", filter=Q(Exists(called))),
        paid=Count("pk", filter=Q(Exists(paid))),
    )
    return Funnel(**totals)


def daily(now: datetime, dimension: str) -> Q:
    return Q(span=DAY, dimension=dimension, environment="live", start__gte=now - WINDOW)


def top_consumers(now: datetime, limit: int = 10) -> list[tuple[int, int]]:
    """The accounts with the most admitted live calls in 30 days: (account id, calls)."""
    rows = (
        UsageSummary.objects.filter(daily(now, ACCOUNT), outcome="ok")
        .values("account")
        .annotate(n=Sum("count"))
        .order_by("-n", "account")[:limit]
    )
    return [(row["account"], row["n"]) for row in rows]


def endpoint_popularity(now: datetime, limit: int = 20) -> list[tuple[str, int]]:
    rows = (
        UsageSummary.objects.filter(daily(now, ENDPOINT), outcome="ok")
        .values("value")
        .annotate(n=Sum("count"))
        .order_by("-n", "value")[:limit]
    )
    return [(row["value"], row["n"]) for row in rows]


def refusals(now: datetime, limit: int = 20) -> list[tuple[str, str, int]]:
    """Where customers are refused, by reason and endpoint: the upsell list."""
    rows = (
        UsageSummary.objects.filter(daily(now, ENDPOINT))
        .exclude(outcome="ok")
        .values("outcome", "value")
        .annotate(n=Sum("count"))
        .order_by("-n", "outcome", "value")[:limit]
    )
    return [(row["outcome"], row["value"], row["n"]) for row in rows]


def calls_by_day(now: datetime) -> dict[str, list[float]]:
    """Live calls a day across every account, admitted and refused, for the chart."""
    rows = (
        UsageSummary.objects.filter(daily(now, ACCOUNT))
        .values("start")
        .annotate(ok=Sum("count", filter=Q(outcome="ok")), all=Sum("count"))
        .order_by("start")
    )
    days = list(rows)
    return {
        "t": [row["start"].timestamp() for row in days],
        "ok": [float(row["ok"] or 0) for row in days],
        "denied": [float(row["all"] - (row["ok"] or 0)) for row in days],
    }


def overdue() -> QuerySet[Subscription]:
    """The longest overdue first (the page shows OVERDUE_SHOWN of them and how many in all)."""
    return (
        Subscription.objects.filter(status__in=OVERDUE_STATUSES)
        .select_related("account", "plan")
        .order_by(F("past_due_since").asc(nulls_last=True), "started_at", "pk")
    )
