"""Billing workflows: Checkout, plan changes, and applying Stripe's state to our rows.

Network calls to Stripe (through billing.gateway) happen outside database transactions; each
apply step re-fetches the object from Stripe first, then writes under the account's row lock,
so late, duplicated and out-of-order webhooks converge on Stripe's current state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts import audit
from accounts.models import Account, User
from accounts.roles import Role
from accounts.signals import account_policy_changed
from billing import gateway, revenue
from billing.models import (
    Customer,
    EventStatus,
    Invoice,
    MeterErrorReport,
    MeterReport,
    Notice,
    StripeEvent,
    Subscription,
    from_timestamp,
)
from billing.standing import payment_overdue
from catalog.models import Comp, Coupon, Plan
from portal import emails
from portal.metrics import WEBHOOK_FAILURES
from webhooks import events as webhook_events

log = logging.getLogger(__name__)


# --- customer, checkout, portal, plan changes ------------------------------------------------
def ensure_customer(account: Account, email: str) -> Customer:
    existing = Customer.objects.filter(account=account).first()
    if existing:
        return existing
    # The idempotency key makes a double click or a retry return the same Stripe customer.
    data = gateway.create_customer(
        email, account.name, {"account_id": str(account.id)}, key=f"customer:{account.id}"
    )
    try:
        with transaction.atomic():
            return Customer.objects.create(account=account, stripe_id=data["id"])
    except IntegrityError:
        return Customer.objects.get(account=account)


def start_checkout(
    account: Account,
    plan: Plan,
    user: User,
    success_url: str,
    cancel_url: str,
    interval: str = "month",
) -> str:
    """Open a Checkout Session for `plan` billed every `interval` (month or year, if the plan
    has a yearly price); returns the URL to send the person to."""
    customer = ensure_customer(account, user.email)
    line_items = _plan_items(plan, interval)
    subscription_data: dict[str, Any] = {"metadata": {"account_id": str(account.id)}}
    if plan.trial_days:
        subscription_data["trial_period_days"] = plan.trial_days
    params = {
        "mode": "subscription",
        "customer": customer.stripe_id,
        "client_reference_id": str(account.id),
        "line_items": line_items,
        "subscription_data": subscription_data,
        "success_url": success_url,
        "cancel_url": cancel_url,
        **tax_params(),
    }
    if Coupon.objects.exclude(promotion_codes=[]).exclude(stripe_coupon_id="").exists():
        params["allow_promotion_codes"] = True  # Checkout shows its "Add promotion code" box
    session = gateway.create_checkout_session(params, key=None)
    audit.record(account, "billing.checkout_started", actor=user, target=plan.slug)
    return str(session["url"])


def tax_params() -> dict[str, Any]:
    """Checkout's tax settings: Stripe Tax, and what it asks of the customer. What Checkout
    collects is saved on the customer (`customer_update`), where Stripe Tax reads it."""
    automatic = settings.STRIPE_AUTOMATIC_TAX
    params: dict[str, Any] = {}
    if automatic or settings.STRIPE_COLLECT_BILLING_ADDRESS:
        params["billing_address_collection"] = "required"
    if automatic:
        params["automatic_tax"] = {"enabled": True}
    if settings.STRIPE_COLLECT_TAX_ID:
        params["tax_id_collection"] = {"enabled": True}
    if automatic or settings.STRIPE_COLLECT_TAX_ID:
        params["customer_update"] = {"address": "auto", "name": "auto"}
    return params


def open_portal(account: Account, return_url: str) -> str:
    customer = ensure_customer(
        account, account.owners().values_list("email", flat=True).first() or ""
    )
    return str(gateway.create_portal_session(customer.stripe_id, return_url)["url"])


def _licensed_item(data: dict[str, Any]) -> dict[str, Any]:
    items = data["items"]["data"]
    return next((i for i in items if i["price"]["recurring"]["usage_type"] == "licensed"), items[0])


def is_downgrade(current: Plan | None, new: Plan) -> bool:
    return current is not None and new.monthly_price < current.monthly_price


def change_plan(
    account: Account,
    plan: Plan,
    user: User,
    *,
    downgrade_at_period_end: bool,
    interval: str | None = None,
) -> str:
    """Switch the live subscription to `plan`, prorated; downgrades may wait for the period end.

    The billing period (and so the quota window) stays where it is: Stripe keeps the anchor.
    A downgrade at the period end is a subscription schedule: Stripe switches the prices at
    the renewal, so the renewal invoice is at the new price. A change of `interval` (month to
    year or back) happens now: Stripe resets the anchor to today, credits the unused time and
    invoices the new period at once.
    """
    sub = Subscription.objects.current_for(account)
    if sub is None:
        raise gateway.BillingError(
            "There is no subscription to change.", code="no_subscription", permanent=True
        )
    data = gateway.retrieve_subscription(sub.stripe_id)
    interval = interval or interval_of(data)
    same_interval = interval == interval_of(data)
    if not plan.stripe_prices(interval):
        raise gateway.BillingError(
            f"{plan.name} is not sold by the {interval}: choose another billing interval.",
            code="interval_not_for_sale",
            permanent=True,
        )
    if downgrade_at_period_end and same_interval and is_downgrade(sub.plan, plan):
        _schedule_switch(data, plan)
        Subscription.objects.filter(pk=sub.pk).update(
            scheduled_plan=plan, scheduled_for=sub.current_period_end
        )
        audit.record(account, "billing.downgrade_scheduled", actor=user, target=plan.slug)
        return "scheduled"
    if data.get("schedule"):  # a change now replaces the one planned for the period end
        gateway.release_subscription_schedule(str(data["schedule"]))
        Subscription.objects.filter(pk=sub.pk).update(scheduled_plan=None, scheduled_for=None)
    proration = "create_prorations" if same_interval else "always_invoice"
    _switch_price(sub.stripe_id, plan, proration=proration, interval=interval)
    audit.record(account, "billing.plan_change_requested", actor=user, target=plan.slug)
    return "changed"


def _plan_items(plan: Plan, interval: str) -> list[dict[str, Any]]:
    licensed, *metered = plan.stripe_prices(interval)
    return [{"price": licensed, "quantity": 1}, *({"price": price} for price in metered)]


def interval_of(data: dict[str, Any]) -> str:
    return str(_licensed_item(data)["price"]["recurring"]["interval"])


def _schedule_switch(data: dict[str, Any], plan: Plan) -> None:
    """Plan `plan`'s prices from the next period: the current phase keeps today's prices."""
    item = _licensed_item(data)
    start, end = item["current_period_start"], item["current_period_end"]
    schedule_id = data.get("schedule")
    if not schedule_id:
        # No fixed idempotency key: a schedule released earlier must not be replayed; a
        # second click is refused by Stripe (the subscription has a schedule by then).
        schedule_id = gateway.create_subscription_schedule(data["id"], key=None)["id"]
    current = [
        {"price": i["price"]["id"], **({"quantity": i["quantity"]} if "quantity" in i else {})}
        for i in data["items"]["data"]
    ]
    phases = [
        {"items": current, "start_date": start, "end_date": end},
        {
            "items": _plan_items(plan, interval_of(data)),
            "duration": {"interval": interval_of(data), "interval_count": 1},
        },
    ]
    params = {"phases": phases, "end_behavior": "release", "proration_behavior": "none"}
    gateway.update_subscription_schedule(str(schedule_id), params)


def _switch_price(
    subscription_id: str, plan: Plan, proration: str, interval: str | None = None
) -> dict[str, Any]:
    """Put the subscription on `plan`'s prices for `interval` (by default the one it is billed
    at). Each current item takes the new price of its kind; Stripe prorates the change. An
    overage item the new plan has no price for stays, so the overage used so far is billed at
    the renewal, unless the interval changes (Stripe wants one interval; it then invoices the
    usage so far at once)."""
    data = gateway.retrieve_subscription(subscription_id)
    new_interval = interval or interval_of(data)
    licensed, *metered = plan.stripe_prices(new_interval)
    items: list[dict[str, Any]] = []
    for item in data["items"]["data"]:
        if item["price"]["recurring"]["usage_type"] == "licensed":
            items.append({"id": item["id"], "price": licensed})
        elif metered:
            items.append({"id": item["id"], "price": metered[0]})
        elif new_interval != interval_of(data):
            items.append({"id": item["id"], "deleted": True})
    kinds = {i["price"]["recurring"]["usage_type"] for i in data["items"]["data"]}
    if metered and "metered" not in kinds:
        items.append({"price": metered[0]})
    return gateway.update_subscription(
        subscription_id, {"items": items, "proration_behavior": proration}
    )


def set_cancel_at_period_end(account: Account, user: User, cancel: bool) -> None:
    sub = Subscription.objects.current_for(account)
    if sub is None:
        raise gateway.BillingError(
            "There is no subscription to cancel.", code="no_subscription", permanent=True
        )
    if cancel:
        # Stripe refuses to change the end of a subscription a schedule manages: a downgrade
        # planned for the period end, and the same schedule for the whole period after the
        # switch (its last phase). Ending the subscription replaces that plan: the schedule
        # is released first, whether or not we still list the downgrade as planned.
        schedule = gateway.retrieve_subscription(sub.stripe_id).get("schedule")
        if schedule:
            gateway.release_subscription_schedule(str(schedule))
        if sub.scheduled_plan_id:
            Subscription.objects.filter(pk=sub.pk).update(scheduled_plan=None, scheduled_for=None)
    gateway.update_subscription(sub.stripe_id, {"cancel_at_period_end": cancel})
    audit.record(
        account, "billing.cancel_requested" if cancel else "billing.cancel_withdrawn", actor=user
    )


def cancel_now(account: Account) -> None:
    """Cancel every live subscription at once (the account is being closed)."""
    for sub in Subscription.objects.filter(account=account).live():
        gateway.cancel_subscription(sub.stripe_id)


# --- the upcoming invoice --------------------------------------------------------------------
@dataclass(frozen=True)
class UpcomingInvoice:
    """Stripe's preview of the next invoice; amounts in the currency's smallest unit."""

    amount_due: int
    currency: str
    overage_amount: int  # the metered lines: overage reported so far this period
    overage_calls: int
    date: datetime | None
    tax_amount: int = 0  # Stripe Tax's share of amount_due
    discount_amount: int = 0  # taken off by coupons

    @property
    def tax(self) -> float:
        return self.tax_amount / 100

    @property
    def discount(self) -> float:
        return self.discount_amount / 100

    @property
    def amount(self) -> float:
        return self.amount_due / 100

    @property
    def overage(self) -> float:
        return self.overage_amount / 100


def upcoming_invoice(account: Account) -> UpcomingInvoice | None:
    """The next invoice of the live subscription; None when none is coming (no subscription,
    or it ends with this period). Raises BillingError when Stripe cannot say."""
    sub = Subscription.objects.current_for(account)
    if sub is None or sub.cancel_at_period_end:
        return None
    preview = gateway.preview_invoice(account.billing_customer.stripe_id, sub.stripe_id)
    overage = sum(
        line["amount"]
        for line in preview["lines"]["data"]
        if line["parent"]["subscription_item_details"] and line["quantity"] != 1
    )
    # The overage reported in each month of the billing period (one month, or twelve).
    reported = MeterReport.objects.filter(account=account).filter(
        period_start__gte=sub.current_period_start or timezone.now(),
        period_start__lt=sub.current_period_end or timezone.now(),
    )
    return UpcomingInvoice(
        amount_due=preview["amount_due"],
        currency=preview["currency"],
        overage_amount=overage,
        overage_calls=sum(r.quantity for r in reported),
        date=sub.current_period_end,
        tax_amount=invoice_tax(preview),
        discount_amount=invoice_discount(preview),
    )


def invoice_tax(data: dict[str, Any]) -> int:
    """The tax on a Stripe invoice (or its preview): the sum of its total_taxes."""
    return sum(int(tax["amount"]) for tax in data.get("total_taxes") or [])


def invoice_discount(data: dict[str, Any]) -> int:
    """What coupons took off a Stripe invoice (or its preview)."""
    return sum(int(given["amount"]) for given in data.get("total_discount_amounts") or [])


@dataclass(frozen=True)
class CardOnFile:
    brand: str
    last4: str
    exp_month: int
    exp_year: int

    def __str__(self) -> str:
        expiry = f"{self.exp_month:02d}/{self.exp_year}"
        return f"{self.brand.title()} ending in {self.last4}, expires {expiry}"


def card_on_file(account: Account) -> CardOnFile | None:
    """The card Stripe charges for the live subscription; None without one. Raises BillingError
    when Stripe cannot say."""
    sub = Subscription.objects.current_for(account)
    if sub is None:
        return None
    method = gateway.retrieve_card_on_file(sub.stripe_id)
    card = (method or {}).get("card")
    if not card:
        return None
    return CardOnFile(card["brand"], card["last4"], card["exp_month"], card["exp_year"])


# --- applying Stripe's state ------------------------------------------------------------------
def apply_event(event_id: str) -> str:
    """Re-fetch the object an event is about and apply it; idempotent and order-free."""
    event = StripeEvent.objects.get(pk=event_id)
    if event.status in (EventStatus.APPLIED, EventStatus.IGNORED):
        return str(event.status)
    StripeEvent.objects.filter(pk=event_id).update(attempts=event.attempts + 1)
    handled = _apply_by_type(event.type, event.object_id, event_id)
    status = EventStatus.APPLIED if handled else EventStatus.IGNORED
    StripeEvent.objects.filter(pk=event_id).update(
        status=status, error="", applied_at=timezone.now()
    )
    return str(status)


def mark_failed(event_id: str, error: BaseException) -> None:
    WEBHOOK_FAILURES.labels("apply").inc()
    StripeEvent.objects.filter(pk=event_id).update(
        status=EventStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000]
    )


def _apply_by_type(event_type: str, object_id: str, event_id: str) -> bool:
    if event_type == "v1.billing.meter.error_report_triggered":
        record_meter_errors(gateway.retrieve_event_v2(event_id))
        return True
    if event_type == "checkout.session.completed":
        session = gateway.retrieve_checkout_session(object_id)
        if session.get("mode") == "payment":
            from credits.purchases import apply_payment_session  # credits builds on billing

            return apply_payment_session(session)
        if not session.get("subscription"):
            return False
        sync_subscription(
            gateway.retrieve_subscription(session["subscription"]), checkout_session=session
        )
        return True
    if event_type == "payment_intent.succeeded":
        from credits.purchases import apply_topup_intent

        return apply_topup_intent(gateway.retrieve_payment_intent(object_id))
    if event_type.startswith("customer.subscription."):
        sync_subscription(gateway.retrieve_subscription(object_id))
        return True
    if event_type.startswith("invoice."):
        invoice = gateway.retrieve_invoice(object_id)
        # The invoice first: announcing the subscription's state may point at it.
        sync_invoice(invoice)
        subscription_id = _invoice_subscription(invoice)
        if subscription_id:
            sync_subscription(gateway.retrieve_subscription(subscription_id))
        return True
    return False


def _invoice_subscription(invoice: dict[str, Any]) -> str:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return str(details.get("subscription") or "")


def _account_for_customer(customer_id: str) -> Account | None:
    customer = Customer.objects.filter(stripe_id=customer_id).select_related("account").first()
    return customer.account if customer else None


def _subscription_fields(data: dict[str, Any]) -> dict[str, Any]:
    item = _licensed_item(data)
    status = data["status"]
    period_start = from_timestamp(item["current_period_start"])
    return {
        "status": status,
        "plan": Plan.objects.filter(
            Q(stripe_price_id=item["price"]["id"]) | Q(stripe_yearly_price_id=item["price"]["id"])
        ).first(),
        "current_period_start": period_start,
        "current_period_end": from_timestamp(item["current_period_end"]),
        "cancel_at_period_end": bool(data.get("cancel_at_period_end")),
        "interval": str(item["price"]["recurring"]["interval"]),
        "past_due_since": period_start if status in ("past_due", "unpaid") else None,
        "started_at": from_timestamp(data.get("start_date") or data["created"]),
        "ended_at": from_timestamp(data.get("ended_at")),
    }


def sync_subscription(data: dict[str, Any], checkout_session: dict[str, Any] | None = None) -> bool:
    """Make our copy of one subscription match Stripe's; True if anything changed."""
    account = _account_for_customer(data["customer"])
    if account is None:
        log.warning("subscription %s belongs to no known customer", data["id"])
        return False
    fields = _subscription_fields(data)
    if checkout_session is not None:
        fields["checkout_session_id"] = checkout_session["id"]
    with transaction.atomic():
        # One writer per account at a time: concurrent events for it apply one after another.
        account = Account.objects.select_for_update().get(pk=account.pk)
        sub = Subscription.objects.filter(stripe_id=data["id"]).first()
        if sub is None:
            sub = Subscription.objects.create(stripe_id=data["id"], account=account, **fields)
            changed = ["created", *fields]
        else:
            changed = _update_changed(sub, fields)
        _announce_subscription(account, sub, changed)
        plan_changed = _refresh_account_plan(account)
        revenue.record(account, "stripe", sub.stripe_id)
        if changed or plan_changed:
            transaction.on_commit(
                lambda: account_policy_changed.send(sender=Subscription, account_id=account.pk)
            )
    if changed:
        _after_sync(sub)
    return bool(changed) or plan_changed


def _update_changed(obj: Any, fields: dict[str, Any]) -> list[str]:
    changed = [name for name, value in fields.items() if getattr(obj, name) != value]
    for name in changed:
        setattr(obj, name, fields[name])
    if changed:
        obj.save(update_fields=[*changed, "updated_at"] if hasattr(obj, "updated_at") else changed)
    return changed


def _refresh_account_plan(account: Account) -> bool:
    """Set the account's plan to the one it is granted (revenue.granted_plan_id)."""
    plan_id = revenue.granted_plan_id(account)
    if account.plan_id == plan_id:
        return False
    account.plan_id = plan_id
    account.save(update_fields=["plan"])
    return True


def _announce_subscription(account: Account, sub: Subscription, changed: list[str]) -> None:
    plan_name = sub.plan.name if sub.plan else "a plan"
    key = sub.stripe_id
    if "created" in changed:
        notify(account, f"subscription.started:{key}", "billing.subscription_started", key,
               email="subscription-started", ctx={"plan_name": plan_name})  # fmt: skip
        _emit_subscription(account, sub, "started", f"subscription.started:{key}")
    elif "plan" in changed and sub.plan_id:
        notify(account, f"subscription.plan:{key}:{sub.plan_id}", "billing.plan_changed", key)
        _emit_subscription(account, sub, "plan_changed", f"subscription.plan:{key}:{sub.plan_id}")
    if "status" in changed and sub.status == "canceled":
        notify(account, f"subscription.ended:{key}", "billing.subscription_ended", key,
               email="subscription-ended", ctx={"plan_name": plan_name})  # fmt: skip
        _emit_subscription(account, sub, "ended", f"subscription.ended:{key}")
    # Stripe's state can arrive after the grace has run out (a late event, reconcile).
    announce_suspension(account, sub, timezone.now())


def _emit_subscription(account: Account, sub: Subscription, change: str, notice: str) -> None:
    """The customer's webhooks; the notice's key names the occurrence, so it goes once too."""
    data = {
        "id": sub.stripe_id,
        "change": change,
        "status": sub.status,
        "plan": sub.plan.slug if sub.plan else None,
        "current_period_end": sub.current_period_end.isoformat()
        if sub.current_period_end
        else None,
        "cancel_at_period_end": sub.cancel_at_period_end,
    }
    webhook_events.emit(account, "subscription.changed", notice, {"subscription": data})


def _emit_invoice(account: Account, invoice: Invoice, event_type: str) -> None:
    data = {
        "id": invoice.stripe_id,
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "amount_due": invoice.amount_due,
        "amount_paid": invoice.amount_paid,
        "hosted_invoice_url": invoice.hosted_invoice_url,
    }
    webhook_events.emit(account, event_type, f"{event_type}:{invoice.stripe_id}", {"invoice": data})


def _after_sync(sub: Subscription) -> None:
    """Forget a downgrade planned for the period end once that period has begun: Stripe's
    schedule made the switch, and the plan now follows from the subscription's prices."""
    due = sub.scheduled_for
    if due is not None and sub.current_period_start is not None and sub.current_period_start >= due:
        Subscription.objects.filter(pk=sub.pk).update(scheduled_plan=None, scheduled_for=None)


def sync_invoice(data: dict[str, Any]) -> bool:
    account = _account_for_customer(data["customer"])
    if account is None or not data.get("id"):
        return False
    fields = {
        "subscription_stripe_id": _invoice_subscription(data),
        "number": data.get("number") or "",
        "status": data["status"],
        "currency": data["currency"],
        "amount_due": data["amount_due"],
        "amount_paid": data["amount_paid"],
        "tax": invoice_tax(data),
        "discount": invoice_discount(data),
        "created": from_timestamp(data["created"]),
        "period_start": from_timestamp(data.get("period_start")),
        "period_end": from_timestamp(data.get("period_end")),
        "hosted_invoice_url": data.get("hosted_invoice_url") or "",
        "invoice_pdf": data.get("invoice_pdf") or "",
    }
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        invoice, created = Invoice.objects.get_or_create(
            stripe_id=data["id"], defaults={"account": account, **fields}
        )
        changed = created or bool(_update_changed(invoice, fields))
        if changed:
            _announce_invoice(account, invoice, data)
    return changed


def _announce_invoice(account: Account, invoice: Invoice, data: dict[str, Any]) -> None:
    ctx = {"invoice": invoice, "amount": f"{invoice.amount:.2f} {invoice.currency.upper()}"}
    if invoice.status == "open" and data.get("attempted"):
        notify(
            account,
            f"invoice.payment_failed:{invoice.stripe_id}",
            "billing.payment_failed",
            invoice.number,
            email="payment-failed",
            ctx=ctx,
        )
        _emit_invoice(account, invoice, "invoice.payment_failed")
    if invoice.status == "paid":
        notify(account, f"invoice.paid:{invoice.stripe_id}", "billing.invoice_paid", invoice.number)
        _emit_invoice(account, invoice, "invoice.paid")
        if (data.get("attempt_count") or 0) > 1:
            notify(
                account,
                f"invoice.recovered:{invoice.stripe_id}",
                "billing.payment_recovered",
                invoice.number,
                email="payment-recovered",
                ctx=ctx,
            )


def announce_suspension(account: Account, sub: Subscription, now: datetime) -> bool:
    """Tell the billing people the gateway now refuses live calls; once per past-due episode.

    Call under the account's lock. The episode is the unpaid renewal (`past_due_since`), so a
    later failed renewal is announced again while replays and repeated runs are not.
    """
    since = sub.past_due_since
    if since is None or not payment_overdue(sub.status, since, now):
        return False
    invoice = (
        Invoice.objects.filter(subscription_stripe_id=sub.stripe_id, status="open")
        .order_by("-created")
        .first()
    )
    ctx: dict[str, Any] = {"invoice": invoice, "grace_days": settings.BILLING_GRACE_DAYS}
    if invoice is not None:
        ctx["amount"] = f"{invoice.amount:.2f} {invoice.currency.upper()}"
    key = f"subscription.suspended:{sub.stripe_id}:{int(since.timestamp())}"
    if not notify(account, key, "billing.access_suspended", sub.stripe_id,
                  email="access-suspended", ctx=ctx):  # fmt: skip
        return False
    # Gateways would notice within GATEWAY_POLICY_TTL_SECONDS; this makes them notice now.
    transaction.on_commit(
        lambda: account_policy_changed.send(sender=Subscription, account_id=account.pk)
    )
    return True


def announce_suspensions(now: datetime | None = None) -> int:
    """The beat job's half of suspension: grace periods that ran out with no event from Stripe.

    Returns how many were announced; a second run right after announces none.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.BILLING_GRACE_DAYS)
    overdue = Subscription.objects.filter(
        Q(status="unpaid") | Q(status="past_due", past_due_since__lte=cutoff),
        past_due_since__isnull=False,
    )
    announced = 0
    for sub_id, account_id in overdue.values_list("pk", "account_id"):
        with transaction.atomic():
            # Under the lock a payment applied a moment ago is seen, and not announced over.
            account = Account.objects.select_for_update().get(pk=account_id)
            announced += announce_suspension(account, Subscription.objects.get(pk=sub_id), now)
    return announced


def notify(
    account: Account,
    key: str,
    action: str,
    target: str,
    *,
    email: str = "",
    ctx: dict[str, Any] | None = None,
) -> bool:
    """Record `action` in the audit log and send `email` to the billing people, once per key.

    Call inside the transaction of the change: the Notice row commits (or rolls back) with it,
    and the email goes only after commit.
    """
    _, created = Notice.objects.get_or_create(key=key, defaults={"account": account})
    if not created:
        return False
    audit.record(account, action, target=target, data={"notice": key})
    if email:
        recipients = billing_recipients(account)
        context = {"account": account, **(ctx or {})}
        transaction.on_commit(lambda: emails.send(email, recipients, context))
    return True


def billing_recipients(account: Account) -> list[str]:
    return sorted(
        account.memberships.filter(role__in=[Role.OWNER, Role.BILLING]).values_list(
            "user__email", flat=True
        )
    )


# --- comps ------------------------------------------------------------------------------------
def end_comp(account: Account, by: str) -> bool:
    """Withdraw the account's running comp; its plan follows its subscription again."""
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        ended = Comp.objects.filter(account=account).running(timezone.now())
        comp = ended.first()
        if comp is None:
            return False
        ended.update(ended_at=timezone.now())
        _after_comp(account, comp, by)
    return True


def end_expired_comps(now: datetime | None = None) -> int:
    """The beat job: comps whose last day has passed end; returns how many."""
    now = now or timezone.now()
    ended = 0
    expired = Comp.objects.filter(ended_at__isnull=True, until__lte=now)
    for comp_id, account_id in expired.values_list("pk", "account_id"):
        with transaction.atomic():
            account = Account.objects.select_for_update().get(pk=account_id)
            if Comp.objects.filter(pk=comp_id, ended_at__isnull=True).update(ended_at=now):
                _after_comp(account, Comp.objects.get(pk=comp_id), "expiry")
                ended += 1
    return ended


def _after_comp(account: Account, comp: Comp, by: str) -> None:
    audit.record(account, "plan.comp_ended", target=comp.plan.slug, data={"by": by})
    plan_changed = _refresh_account_plan(account)
    revenue.record(account, "comp", f"comp ended by {by}")
    if plan_changed:
        transaction.on_commit(
            lambda: account_policy_changed.send(sender=Comp, account_id=account.pk)
        )


# --- meter event errors ----------------------------------------------------------------------
def record_meter_errors(event: dict[str, Any]) -> MeterErrorReport:
    """Keep Stripe's report of unbillable meter events for the operator, and log it."""
    data = event["data"]
    errors = [
        {
            "code": kind["code"],
            "count": kind["error_count"],
            "samples": [
                {
                    "identifier": sample["request"]["identifier"],
                    "message": sample["error_message"],
                    # Our identifiers begin with the account's id (metering.meter_identifier).
                    "account_id": sample["request"]["identifier"].split(":", 1)[0],
                }
                for sample in kind["sample_errors"]
            ],
        }
        for kind in data["reason"]["error_types"]
    ]
    report, created = MeterErrorReport.objects.get_or_create(
        event_id=event["id"],
        defaults={
            "meter_id": (event.get("related_object") or {}).get("id", ""),
            "summary": data["developer_message_summary"],
            "error_count": data["reason"]["error_count"],
            "errors": errors,
            "validation_start": _parse_time(data.get("validation_start")),
            "validation_end": _parse_time(data.get("validation_end")),
        },
    )
    if created:
        log.error(
            "Stripe could not bill %d meter event(s): %s (%s)",
            report.error_count,
            report.summary,
            ", ".join(f"{e['code']}: {e['count']}" for e in errors),
        )
    return report


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


# --- reconcile -------------------------------------------------------------------------------
def reconcile(accounts: Any = None) -> int:
    """Compare every customer's subscriptions and invoices with Stripe and repair drift.

    Returns how many rows changed; a second run right after returns 0.
    """
    customers = Customer.objects.select_related("account")
    if accounts is not None:
        customers = customers.filter(account__in=accounts)
    changes = 0
    for customer in customers:
        for sub in gateway.list_subscriptions(customer.stripe_id):
            changes += sync_subscription(sub)
        for invoice in gateway.list_invoices(customer.stripe_id):
            changes += sync_invoice(invoice)
    return changes
