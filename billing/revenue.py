"""Monthly recurring revenue (MRR) and the durable history of its changes.

An account's MRR is what its paying subscriptions bring a month at their plan's list price: a
yearly subscription counts a twelfth of its yearly price. Trials pay nothing yet; a past-due
invoice is still owed, so past_due counts until Stripe ends the subscription. A comp changes the
account's plan but not what Stripe bills, so it changes no MRR (its row is a plan change only).

`record` is called inside the transaction that changed the account's plan or subscriptions,
under the account's row lock: it appends a PlanChange only when the plan or the MRR differs from
the account's last row, so duplicate webhooks, retries and reconcile runs write nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone

from accounts.models import Account
from billing.models import MovementKind, PlanChange, Subscription
from catalog.models import Comp, Plan

MRR_STATUSES = ("active", "past_due")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def monthly_amount(plan: Plan | None, interval: str) -> Decimal:
    """A subscription's share of MRR at its plan's list price."""
    if plan is None:
        return ZERO
    if interval == "year" and plan.yearly_price is not None:
        return (plan.yearly_price / 12).quantize(CENT)
    return plan.monthly_price.quantize(CENT)


@dataclass(frozen=True)
class State:
    plan_id: int | None
    mrr: Decimal


def granted_plan_id(account: Account) -> int | None:
    """The plan the account is entitled to: a running comp's, else its live subscription's
    (None: the default plan)."""
    comp = Comp.objects.filter(account=account).running(timezone.now()).first()
    if comp:
        return comp.plan_id
    current = Subscription.objects.current_for(account)
    return current.plan_id if current else None


def current_state(account: Account) -> State:
    paying = Subscription.objects.filter(account=account, status__in=MRR_STATUSES)
    mrr = sum(
        (monthly_amount(sub.plan, sub.interval) for sub in paying.select_related("plan")), ZERO
    )
    return State(plan_id=granted_plan_id(account), mrr=mrr)


def kind_of(previous: Decimal, mrr: Decimal) -> str:
    if previous == mrr:
        return MovementKind.PLAN_ONLY
    if previous == 0:
        return MovementKind.NEW
    if mrr == 0:
        return MovementKind.CHURN
    return MovementKind.EXPANSION if mrr > previous else MovementKind.CONTRACTION


def last_state(account: Account) -> State:
    last = PlanChange.objects.filter(account=account).order_by("-at", "-id").first()
    return State(last.plan_id, last.mrr) if last else State(None, ZERO)


def record(account: Account, source: str, reference: str = "") -> PlanChange | None:
    """Append the account's plan and MRR if they changed since its last row; None otherwise."""
    now, before = current_state(account), last_state(account)
    if now == before:
        return None
    return PlanChange.objects.create(
        account=account, at=timezone.now(), plan_id=now.plan_id, mrr=now.mrr,
        previous_mrr=before.mrr, kind=kind_of(before.mrr, now.mrr), source=source,
        reference=reference[:255],
    )  # fmt: skip
