"""Subscriptions: creation from Checkout, updates and prorations, renewal, cancellation."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from stripe_simulator import coupons, invoices, schedules, taxes
from stripe_simulator.catalog import product_name
from stripe_simulator.errors import StripeError, invalid, missing
from stripe_simulator.schedules import inactive_price
from stripe_simulator.shapes import list_object, new_id, shape
from stripe_simulator.store import Store, add_interval, now


def create(
    store: Store,
    customer: str,
    line_items: list[dict[str, Any]],
    metadata: dict[str, Any],
    trial_days: int,
    payment_method: str,
    *,
    automatic_tax: bool = False,
    promotion_code: str = "",
    session_id: str | None = None,
) -> dict[str, Any]:
    start = now()
    sub_id = new_id("sub")
    length = interval_of(store, line_items)
    end = start + trial_days * 86400 if trial_days else add_interval(start, length)
    items = [_item(store, sub_id, item["price"], start, end) for item in line_items]
    sub = shape(
        "subscription",
        id=sub_id,
        customer=customer,
        created=start,
        start_date=start,
        billing_cycle_anchor=start,
        billing_cycle_anchor_config=None,
        cancel_at=None,
        cancel_at_period_end=False,
        canceled_at=None,
        ended_at=None,
        next_pending_invoice_item_invoice=None,
        pause_collection=None,
        items=list_object(items, f"/v1/subscription_items?subscription={sub_id}"),
        metadata=metadata,
        status="trialing" if trial_days else "active",
        trial_start=start if trial_days else None,
        trial_end=end if trial_days else None,
        latest_invoice=None,
        schedule=None,
        default_payment_method=payment_method,
        automatic_tax=taxes.automatic_tax(automatic_tax, "subscription"),
    )
    if promotion_code:
        discount = coupons.redeem(store, promotion_code, customer, sub_id, session_id)
        sub["discounts"] = [discount["id"]]
    store.put(sub)
    store.emit("customer.subscription.created", sub)
    # A trial's first invoice is 0.00; the first charge comes when the trial ends.
    invoice = invoices.create(
        store, sub, "subscription_create", start, end, paid=True, usage_from=None,
        which=invoices.Which(trial=bool(trial_days)),
    )  # fmt: skip
    sub["latest_invoice"] = invoice["id"]
    announce_trial_end(store, sub)
    return sub


TRIAL_WILL_END = 3 * 86400


def announce_trial_end(store: Store, sub: dict[str, Any]) -> None:
    """`customer.subscription.trial_will_end`, once, three days before the trial ends (at
    once for a shorter trial), as Stripe sends it."""
    if (
        sub["status"] == "trialing"
        and sub["trial_end"] - now() <= TRIAL_WILL_END
        and sub["id"] not in store.trial_end_announced
    ):
        store.trial_end_announced.add(sub["id"])
        store.emit("customer.subscription.trial_will_end", sub)


def _item(
    store: Store, sub_id: str, price_id: str, start: int, end: int, quantity: int | None = None
) -> dict[str, Any]:
    price = store.get("price", price_id)
    item = shape(
        "subscription_item",
        id=new_id("si"),
        created=start,
        subscription=sub_id,
        price=copy.deepcopy(price),
        current_period_start=start,
        current_period_end=end,
        billing_thresholds=None,
        discounts=[],
        tax_rates=[],
    )
    item["plan"] = plan_of(price)
    if price["recurring"]["usage_type"] == "licensed":
        item["quantity"] = quantity or 1
    else:
        del item["quantity"]  # a metered item has usage, not a quantity: Stripe omits it
    return item


def plan_of(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy Plan object Stripe still derives from a recurring price, for old readers."""
    recurring = price["recurring"]
    return shape(
        "plan",
        id=price["id"],
        active=price["active"],
        amount=price["unit_amount"],
        amount_decimal=price["unit_amount_decimal"],
        created=price["created"],
        currency=price["currency"],
        interval=recurring["interval"],
        interval_count=recurring["interval_count"],
        metadata=price["metadata"],
        meter=recurring["meter"],
        nickname=price["nickname"],
        product=price["product"],
        transform_usage=None,
        usage_type=recurring["usage_type"],
    )


def interval_of(store: Store, items: list[dict[str, Any]]) -> str:
    """The billing interval of a subscription's items (Stripe wants them all on one)."""
    price = items[0]["price"]
    found = store.get("price", price) if isinstance(price, str) else price
    return str(found["recurring"]["interval"])


def period(sub: dict[str, Any]) -> tuple[int, int]:
    first = sub["items"]["data"][0]
    return first["current_period_start"], first["current_period_end"]


def update(store: Store, sub_id: str, p: dict[str, Any]) -> dict[str, Any]:
    sub = store.get("subscription", sub_id)
    if sub["status"] == "canceled":
        raise StripeError(400, "A canceled subscription can't be updated", "subscription_canceled")
    if "cancel_at_period_end" in p and sub.get("schedule"):
        # Stripe's answer: while a schedule manages the subscription, its end is the
        # schedule's to change (update or release the schedule first).
        raise StripeError(
            400,
            f"The subscription is managed by the subscription schedule `{sub['schedule']}`, and "
            "updating any cancelation behavior directly is not allowed. Please update the "
            "schedule instead.",
        )
    before = copy.deepcopy(sub)
    if "cancel_at_period_end" in p:
        sub["cancel_at_period_end"] = p["cancel_at_period_end"] == "true"
        sub["cancel_at"] = period(sub)[1] if sub["cancel_at_period_end"] else None
        sub["canceled_at"] = now() if sub["cancel_at_period_end"] else None
    start, end = period(sub)
    proration = p.get("proration_behavior", "create_prorations")
    for index, change in enumerate(p.get("items") or []):
        _change_item(store, sub, change, f"items[{index}]", start, end, prorate=proration != "none")
    sub["metadata"].update(p.get("metadata") or {})
    if interval_of(store, sub["items"]["data"]) != interval_of(store, before["items"]["data"]):
        _restart_period(store, sub, before)
    elif proration == "always_invoice" and invoices.pending_items(store, sub["id"]):
        # The prorations are invoiced and charged now, not with the next renewal.
        invoice = invoices.create(
            store, sub, "subscription_update", now(), end, paid=True, usage_from=None,
            which=invoices.Which(licensed=False),
        )  # fmt: skip
        sub["latest_invoice"] = invoice["id"]
    store.updated("customer.subscription.updated", sub, before)
    return sub


def _change_item(
    store: Store,
    sub: dict[str, Any],
    change: dict[str, Any],
    where: str,
    start: int,
    end: int,
    *,
    prorate: bool,
) -> None:
    items = sub["items"]["data"]
    price = None
    if change.get("price"):
        price = store.get("price", change["price"], f"{where}[price]")
        if not price["active"]:
            raise inactive_price(f"{where}[price]")
    if change.get("id"):
        item = next((i for i in items if i["id"] == change["id"]), None)
        if item is None:
            raise missing("subscription_item", change["id"], f"{where}[id]")
        if change.get("deleted") == "true":
            items.remove(item)
        elif price is not None:
            if prorate and price["id"] != item["price"]["id"]:
                _prorate(store, sub, item, price)
            # A plan change keeps the billing period: the quota is not reset.
            item.update(price=copy.deepcopy(price), plan=plan_of(price))
    elif price is not None:
        items.append(_item(store, sub["id"], price["id"], start, end))
    else:
        raise invalid(
            f"{where}[price]", f"Missing required param: {where}[price].", "parameter_missing"
        )


def _restart_period(store: Store, sub: dict[str, Any], before: dict[str, Any]) -> None:
    """A change of billing interval, as Stripe does it: the billing cycle anchor moves to now,
    the new period is invoiced at once with the credit for the old one's unused time and the
    metered usage so far."""
    moment = now()
    start, _ = period(before)
    new_end = add_interval(moment, interval_of(store, sub["items"]["data"]))
    for item in sub["items"]["data"]:
        item.update(current_period_start=moment, current_period_end=new_end)
    sub["billing_cycle_anchor"] = moment
    invoice = invoices.create(
        store, sub, "subscription_update", moment, new_end, paid=True,
        usage_from=(start, moment), which=invoices.Which(usage_items=before["items"]["data"]),
    )  # fmt: skip
    sub["latest_invoice"] = invoice["id"]


def _prorate(store: Store, sub: dict[str, Any], item: dict[str, Any], new: dict[str, Any]) -> None:
    """Stripe's create_prorations: a credit for the old price's unused time and a charge for
    the new price's remaining time, as pending invoice items for the next invoice."""
    moment = now()
    start, end = item["current_period_start"], item["current_period_end"]
    licensed = item["price"]["recurring"]["usage_type"] == "licensed"
    if sub["status"] == "trialing" or not licensed or not start <= moment < end:
        return
    left = (end - moment) / (end - start)
    today = datetime.fromtimestamp(moment, UTC)
    day = f"{today.day} {today:%b %Y}"
    changes = [(item["price"], -1, "Unused"), (new, 1, "Remaining")]
    if new["recurring"]["interval"] != item["price"]["recurring"]["interval"]:
        changes.pop()  # the new interval starts a new period, invoiced in full (_restart_period)
    for price, sign, words in changes:
        amount = sign * round(float(price["unit_amount_decimal"]) * left)
        description = f"{words} time on {product_name(store, price)} after {day}"
        invoices.add_proration(
            store, sub, item, price, amount, description, {"start": moment, "end": end}
        )


def cancel(store: Store, sub_id: str, p: dict[str, Any] | None = None) -> dict[str, Any]:
    """Cancel now. `prorate`: credit the unused time of the licensed items (a pending invoice
    item); `invoice_now`: a final invoice for the metered usage so far and the pending
    prorations. Without them the usage is discarded and nothing is credited, as Stripe does."""
    p = p or {}
    sub = store.get("subscription", sub_id)
    if sub["status"] != "canceled":
        moment = now()
        if p.get("prorate") == "true":
            _credit_unused(store, sub, moment)
        if p.get("invoice_now") == "true":
            start, _ = period(sub)
            invoice = invoices.create(
                store, sub, "subscription_update", start, moment, paid=True,
                usage_from=(start, moment + 1),  # the usage until now, this second's included
                which=invoices.Which(licensed=False),
            )  # fmt: skip
            sub["latest_invoice"] = invoice["id"]
        sub.update(status="canceled", canceled_at=moment, ended_at=moment)
        sub["cancellation_details"]["reason"] = "cancellation_requested"
        store.emit("customer.subscription.deleted", sub)
    return sub


def _credit_unused(store: Store, sub: dict[str, Any], moment: int) -> None:
    """A credit for each licensed item's time left in the period (none during a trial)."""
    today = datetime.fromtimestamp(moment, UTC)
    for item in sub["items"]["data"]:
        start, end = item["current_period_start"], item["current_period_end"]
        price = item["price"]
        licensed = price["recurring"]["usage_type"] == "licensed"
        if sub["status"] == "trialing" or not licensed or not start <= moment < end:
            continue
        left = (end - moment) / (end - start)
        amount = -round(float(price["unit_amount_decimal"]) * left)
        description = f"Unused time on {product_name(store, price)} after {today.day} {today:%b %Y}"
        invoices.add_proration(
            store, sub, item, price, amount, description, {"start": moment, "end": end}
        )


def advance(store: Store, sub_id: str) -> dict[str, Any]:
    """Move a subscription to its next period (the end of its trial, or a renewal), taking
    the prices of a schedule's phase that begins then, and invoice (and charge) for it."""
    sub = store.get("subscription", sub_id)
    if sub["status"] == "canceled":
        return sub
    before = copy.deepcopy(sub)
    start, end = period(sub)
    if sub["cancel_at_period_end"]:
        sub.update(status="canceled", ended_at=end)
        sub["cancellation_details"]["reason"] = "cancellation_requested"
        store.emit("customer.subscription.deleted", sub, before)
        return sub
    new_end = add_interval(end, interval_of(store, sub["items"]["data"]))
    usage = [dict(item) for item in sub["items"]["data"]]  # the ending period's metered items
    phase = schedules.phase_at(store, sub, end)
    if phase is not None:
        sub["items"]["data"] = [
            _item(store, sub["id"], i["price"], end, new_end, i.get("quantity")) for i in phase
        ]
    for item in sub["items"]["data"]:
        item.update(current_period_start=end, current_period_end=new_end)
    failed = sub_id in store.fail_next_payment
    store.fail_next_payment.discard(sub_id)
    sub.update(status="past_due" if failed else "active")
    invoice = invoices.create(
        store, sub, "subscription_cycle", end, new_end, paid=not failed, usage_from=(start, end),
        which=invoices.Which(usage_items=usage),
    )  # fmt: skip
    sub["latest_invoice"] = invoice["id"]
    store.updated("customer.subscription.updated", sub, before)
    return sub


def backdate(store: Store, sub_id: str, seconds: int) -> dict[str, Any]:
    """Move a subscription's dates `seconds` into the past, as if it had begun that earlier.

    What a Stripe test clock started in the past would give: the portal and the gateway
    run on the real clock, so an end-to-end test reaches past a renewal date or a grace
    period by moving Stripe's dates. The update event lets the portal's copy follow.
    """
    sub = store.get("subscription", sub_id)
    if seconds < 0:
        raise StripeError(400, "seconds must not be negative", param="seconds")
    dated = ("created", "start_date", "billing_cycle_anchor", "trial_start", "trial_end",
             "cancel_at", "canceled_at", "ended_at")  # fmt: skip
    before = copy.deepcopy(sub)
    for field in dated:
        if sub.get(field):
            sub[field] -= seconds
    for item in sub["items"]["data"]:
        for field in ("created", "current_period_start", "current_period_end"):
            item[field] -= seconds
    store.updated("customer.subscription.updated", sub, before)
    announce_trial_end(store, sub)
    return sub


def pay_open_invoices(store: Store, sub_id: str) -> dict[str, Any]:
    sub = store.get("subscription", sub_id)
    before = copy.deepcopy(sub)
    invoices.pay_open(store, sub_id)
    if sub["status"] in ("past_due", "unpaid"):
        sub["status"] = "active"
        store.updated("customer.subscription.updated", sub, before)
    return sub


def preview_invoice(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    sub = store.get("subscription", p.get("subscription", ""), "subscription")
    start, end = period(sub)
    phase = schedules.next_phase(store, sub, end)
    new_end = add_interval(end, interval_of(store, sub["items"]["data"]))
    if phase is not None:  # the renewal takes the prices of the schedule's next phase
        items = [_item(store, sub["id"], i["price"], end, new_end, i.get("quantity"))
                 for i in phase["items"]]  # fmt: skip
        usage = [i for i in sub["items"]["data"] if "quantity" not in i]
        sub = {**sub, "items": {**sub["items"], "data": items}}
        return invoices.preview(store, sub, (start, end), new_end, usage)
    return invoices.preview(store, sub, (start, end), new_end)
