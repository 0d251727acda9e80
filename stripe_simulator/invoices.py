"""Invoices, their lines, pending invoice items (prorations) and the upcoming-invoice preview."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stripe_simulator import coupons, meters, taxes
from stripe_simulator.catalog import product_name
from stripe_simulator.errors import missing
from stripe_simulator.shapes import list_object, new_id, shape
from stripe_simulator.store import Store, now

# An invoice embeds its first lines only (`lines.has_more` says when there are others); all of
# them are listed at `lines.url`, /v1/invoices/{id}/lines, a preview's as well as a saved one's.
EMBEDDED_LINES = 10
LINES = "_invoice_lines"  # the store's kind for each invoice's whole list of lines
KEPT_PREVIEWS = 100  # previews whose lines stay listable (Stripe keeps a preview's for a while)
PREVIEW_PREFIX = "upcoming_"  # a preview's id: upcoming_in_...


@dataclass(frozen=True)
class Which:
    """What an invoice bills: the licensed items (False: prorations only), at 0 for a trial;
    metered usage from `usage_items` (the ending period's items) or the current ones."""

    licensed: bool = True
    trial: bool = False
    usage_items: list[dict[str, Any]] | None = None


def pending_items(store: Store, sub_id: str) -> list[dict[str, Any]]:
    """Invoice items waiting for the subscription's next invoice, oldest first."""
    found = [
        ii
        for ii in store.objects.get("invoiceitem", {}).values()  # in the order they were made
        if ii["invoice"] is None and ii["parent"]["subscription_details"]["subscription"] == sub_id
    ]
    return sorted(found, key=lambda ii: ii["date"])


def add_proration(
    store: Store,
    sub: dict[str, Any],
    item: dict[str, Any],
    price: dict[str, Any],
    amount: int,
    description: str,
    period: dict[str, int],
) -> dict[str, Any]:
    return store.put(
        shape(
            "invoiceitem",
            id=new_id("ii"),
            amount=amount,
            net_amount=amount,
            currency=price["currency"],
            customer=sub["customer"],
            date=now(),
            description=description,
            discountable=False,  # Stripe never discounts prorations
            invoice=None,
            metadata={},
            period=period,
            proration=True,
            quantity=1,
            quantity_decimal="1",
            test_clock=None,
            customer_account=None,
            parent={
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": sub["id"],
                    "subscription_item": item["id"],
                },
            },
            pricing={
                "type": "price_details",
                "unit_amount_decimal": price["unit_amount_decimal"],
                "price_details": {"price": price["id"], "product": price["product"]},
            },
        )
    )


def _lines(
    store: Store,
    sub: dict[str, Any],
    start: int,
    end: int,
    usage_from: tuple[int, int] | None,
    which: Which,
) -> list[dict[str, Any]]:
    """The invoice's lines in Stripe's order: the pending invoice items (prorations), newest
    first, then the subscription's items: the licensed ones for the period (0 during a trial),
    the metered ones for the usage of `usage_from`."""
    lines = []
    # Newest first by time; the credit and the charge of one change keep their order.
    for ii in sorted(pending_items(store, sub["id"]), key=lambda ii: -ii["date"]):
        price = store.get("price", ii["pricing"]["price_details"]["price"])
        item_id = ii["parent"]["subscription_details"]["subscription_item"]
        line = _line(store, price, 1, ii["amount"], ii["period"], sub["id"], item_id)
        details = line["parent"]["subscription_item_details"]
        details.update(invoice_item=ii["id"], proration=True)
        line.update(description=ii["description"], discountable=False)
        lines.append(line)
    items = sub["items"]["data"]
    licensed = [i for i in items if i["price"]["recurring"]["usage_type"] == "licensed"]
    metered = [
        i
        for i in (items if which.usage_items is None else which.usage_items)
        if i["price"]["recurring"]["usage_type"] == "metered"
    ]
    for item in licensed if which.licensed else []:
        price = item["price"]
        amount = 0 if which.trial else round(float(price["unit_amount_decimal"]))
        line = _line(store, price, 1, amount, {"start": start, "end": end}, sub["id"], item["id"])
        if which.trial:
            line["description"] = f"Trial period for {product_name(store, price)}"
        lines.append(line)
    if usage_from is not None:
        used_from, used_to = usage_from
        for item in metered:
            price = item["price"]
            quantity = meters.usage(store, sub["customer"], used_from, used_to)
            amount = round(float(price["unit_amount_decimal"]) * quantity)
            period = {"start": used_from, "end": used_to}
            lines.append(_line(store, price, quantity, amount, period, sub["id"], item["id"]))
    return lines


def embedded_lines(store: Store, invoice_id: str, lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The invoice's `lines` list object; the whole list is kept for /v1/invoices/{id}/lines."""
    store.put({"id": invoice_id, "object": LINES, "data": lines})
    kept = store.objects[LINES]
    previews = [key for key in kept if key.startswith(PREVIEW_PREFIX)]
    for old in previews[: max(0, len(previews) - KEPT_PREVIEWS)]:
        del kept[old]
    url = f"/v1/invoices/{invoice_id}/lines"
    return list_object(lines[:EMBEDDED_LINES], url, has_more=len(lines) > EMBEDDED_LINES)


def all_lines(store: Store, invoice_id: str) -> list[dict[str, Any]]:
    kept = store.objects.get(LINES, {}).get(invoice_id)
    if kept is None:
        # An invoice from a state file of an earlier release embedded all its lines.
        invoice = store.objects.get("invoice", {}).get(invoice_id)
        if invoice is None:
            raise missing("invoice", invoice_id, "invoice")
        kept = invoice["lines"]
    lines: list[dict[str, Any]] = kept["data"]
    return lines


def _line(
    store: Store,
    price: dict[str, Any],
    quantity: int,
    amount: int,
    period: dict[str, int],
    sub_id: str,
    item_id: str,
) -> dict[str, Any]:
    return {
        "id": new_id("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": f"{quantity} x {product_name(store, price)}",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "period": period,
        "quantity": quantity,
        "subscription": sub_id,
        "pretax_credit_amounts": [],
        "taxes": [],
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
                "subscription_item": item_id,
            },
        },
        "pricing": {
            "type": "price_details",
            "unit_amount_decimal": price["unit_amount_decimal"],
            "price_details": {"price": price["id"], "product": price["product"]},
        },
        "subtotal": amount,
        "quantity_decimal": str(quantity),
    }


def _invoice_object(
    store: Store,
    sub: dict[str, Any],
    reason: str,
    start: int,
    end: int,
    usage_from: tuple[int, int] | None,
    invoice_id: str,
    which: Which,
) -> dict[str, Any]:
    """An invoice billing the period `start`-`end` (its licensed lines') and the usage of
    `usage_from`. Its own `period_start`/`period_end` are, as Stripe defines them, the period in
    which its items were added: the usage period looked back on, or its creation for a first
    invoice."""
    lines = _lines(store, sub, start, end, usage_from, which)
    subtotal = sum(line["amount"] for line in lines)
    for line in lines:
        line["invoice"] = invoice_id
    discounts = coupons.current(store, sub, start)
    total_discounts = coupons.apply(store, lines, discounts)
    discounted = subtotal - sum(d["amount"] for d in total_discounts)
    automatic_tax = sub["automatic_tax"]["enabled"]
    total_taxes = taxes.tax_lines(lines) if automatic_tax else []
    total = discounted + sum(tax["amount"] for tax in total_taxes)
    customer = store.get("customer", sub["customer"])
    return shape(
        "invoice",
        id=invoice_id,
        created=now(),
        customer=sub["customer"],
        billing_reason=reason,
        amount_due=total,
        amount_paid=0,
        amount_remaining=total,
        subtotal=subtotal,
        subtotal_excluding_tax=subtotal,
        total=total,
        total_excluding_tax=discounted,
        total_taxes=total_taxes,
        discounts=[d["id"] for d in discounts],
        total_discount_amounts=total_discounts,
        automatic_tax={
            **taxes.automatic_tax(automatic_tax, "invoice"),
            "status": "complete" if automatic_tax else None,
        },
        period_start=usage_from[0] if usage_from else now(),
        period_end=usage_from[1] if usage_from else now(),
        status="draft",
        lines=embedded_lines(store, invoice_id, lines),
        attempt_count=0,
        attempted=False,
        hosted_invoice_url=None,
        invoice_pdf=None,
        number=None,
        due_date=None,
        effective_at=None,
        next_payment_attempt=None,
        from_invoice=None,
        last_finalization_error=None,
        latest_revision=None,
        customer_address=customer.get("address"),
        customer_shipping=None,
        shipping_cost=None,
        shipping_details=None,
        metadata={},
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]},
        },
    )


def create(
    store: Store,
    sub: dict[str, Any],
    reason: str,
    start: int,
    end: int,
    *,
    paid: bool,
    usage_from: tuple[int, int] | None,
    which: Which | None = None,
) -> dict[str, Any]:
    """Create, finalize and charge an invoice."""
    invoice_id = new_id("in")
    invoice = _invoice_object(
        store, sub, reason, start, end, usage_from, invoice_id, which or Which()
    )
    for ii in pending_items(store, sub["id"]):
        ii["invoice"] = invoice_id
    coupons.used_once(store, sub, invoice)
    store.put(invoice)
    store.emit("invoice.created", invoice)
    store.invoice_sequence += 1
    finalized = now()
    invoice.update(
        status="open",
        number=f"TG-{store.invoice_sequence:05d}",
        effective_at=finalized,
        hosted_invoice_url=f"{store.base_url}/invoices/{invoice_id}",
        invoice_pdf=f"{store.base_url}/invoices/{invoice_id}/pdf",
        attempted=True,
        attempt_count=1,
    )
    invoice["status_transitions"]["finalized_at"] = finalized
    store.emit("invoice.finalized", invoice)
    if paid or invoice["amount_due"] == 0:
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
        invoice["status_transitions"]["paid_at"] = finalized
        store.emit("invoice.paid", invoice)
    else:
        invoice["next_payment_attempt"] = finalized + 3 * 86400
        store.emit("invoice.payment_failed", invoice)
    return invoice


def pay_open(store: Store, sub_id: str) -> None:
    for invoice in store.all("invoice"):
        if (
            invoice["parent"]["subscription_details"]["subscription"] == sub_id
            and invoice["status"] == "open"
        ):
            invoice.update(
                status="paid",
                amount_paid=invoice["amount_due"],
                amount_remaining=0,
                attempt_count=invoice["attempt_count"] + 1,
                next_payment_attempt=None,
            )
            invoice["status_transitions"]["paid_at"] = now()
            store.emit("invoice.paid", invoice)


def preview(
    store: Store,
    sub: dict[str, Any],
    period: tuple[int, int],
    next_end: int,
    usage_items: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    start, end = period
    # A preview is not saved: its id names no invoice that can be fetched, only its lines.
    preview_id = f"{PREVIEW_PREFIX}{new_id('in')}"
    which = Which(usage_items=usage_items)
    return _invoice_object(store, sub, "upcoming", end, next_end, (start, end), preview_id, which)
