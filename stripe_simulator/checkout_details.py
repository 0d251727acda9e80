"""What a Checkout Session says about its line items and amounts, as Stripe fills it.

Line items: a licensed price needs a `quantity`, a metered one must not have one (its usage is
billed later); the simulator's subscriptions have quantity 1. At creation a session states its
amounts (`amount_subtotal`, `amount_total`, `total_details`: what the first payment comes to,
before the tax an address decides); once a subscription-mode session completes, they are its
first invoice's, with the `invoice`, and the `discounts` a promotion code gave. `customer_details`
is filled at payment, and `line_items` is included when asked for (`expand[]=line_items`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stripe_simulator.catalog import product_name
from stripe_simulator.errors import invalid, unimplemented
from stripe_simulator.shapes import list_object, new_id, shape
from stripe_simulator.store import Store


def _metered(price: dict[str, Any]) -> bool:
    return bool(price["recurring"] and price["recurring"]["usage_type"] == "metered")


def check_line_items(store: Store, mode: str, items: list[dict[str, Any]]) -> None:
    """Each line item's `quantity`, as Stripe requires it (its price already found)."""
    for index, item in enumerate(items):
        where = f"line_items[{index}]"
        price = store.get("price", item["price"], f"{where}[price]")
        if _metered(price) and "quantity" in item:
            raise invalid(
                f"{where}[quantity]",
                "Quantity should not be specified where usage_type is `metered`. Remove "
                f"`quantity` from `{where}`.",
            )
        if not _metered(price) and "quantity" not in item:
            message = f"Quantity is required. Add `quantity` to `{where}`."
            raise invalid(f"{where}[quantity]", message)
        if mode == "subscription" and not _metered(price) and item["quantity"] != "1":
            raise unimplemented(f"{where}[quantity]", "A subscription item's quantity other than 1")


def _amount(price: dict[str, Any], quantity: str | None) -> int:
    if _metered(price):
        return 0  # usage, billed at the end of the period
    return round(Decimal(price["unit_amount_decimal"]) * int(quantity or 0))


def at_creation(store: Store, session: dict[str, Any], p: dict[str, Any]) -> None:
    """The amounts the first payment comes to (nothing during a trial), the settings the
    session shows as Stripe does, and its line items' ids (kept with its request)."""
    from stripe_simulator.checkout import request_of

    items = p.get("line_items") or []
    request_of(store, session["id"])["line_item_ids"] = [new_id("li") for _ in items]
    trial = bool((p.get("subscription_data") or {}).get("trial_period_days"))
    if session["mode"] == "subscription":
        subtotal = 0 if trial else sum(
            _amount(store.get("price", item["price"]), item.get("quantity")) for item in items
        )  # fmt: skip
        session.update(amount_subtotal=subtotal, amount_total=subtotal)
    else:
        session["invoice_creation"] = {
            "enabled": False,
            "invoice_data": {
                "account_tax_ids": None, "custom_fields": None, "description": None,
                "footer": None, "issuer": None, "metadata": {}, "rendering_options": None,
            },
        }  # fmt: skip
    session["total_details"] = {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
    if p.get("allow_promotion_codes") == "true":
        session["allow_promotion_codes"] = True


def at_payment(store: Store, session: dict[str, Any]) -> None:
    """The customer's details as the hosted page completes them (the address, if it collects
    one, is set by the page)."""
    customer = store.get("customer", session["customer"])
    session["customer_details"] = {
        "address": None, "business_name": None, "email": customer["email"],
        "individual_name": None, "name": customer["name"], "phone": None, "tax_exempt": "none",
        "tax_ids": [],
    }  # fmt: skip
    if customer["currency"] is None:
        customer["currency"] = session["currency"]  # its first payment sets it


def at_completion(store: Store, session: dict[str, Any], sub: dict[str, Any]) -> None:
    """A subscription-mode session once paid: its first invoice's amounts, and its discounts."""
    invoice = store.get("invoice", sub["latest_invoice"])
    session.update(
        invoice=invoice["id"],
        amount_subtotal=invoice["subtotal"],
        amount_total=invoice["total"],
        total_details={
            "amount_discount": sum(d["amount"] for d in invoice["total_discount_amounts"]),
            "amount_shipping": 0,
            "amount_tax": sum(t["amount"] for t in invoice["total_taxes"]),
        },
    )
    redeemed = [d for d in store.all("discount") if d["checkout_session"] == session["id"]]
    if redeemed:
        session["discounts"] = [
            {"coupon": d["source"]["coupon"], "promotion_code": d["promotion_code"]}
            for d in redeemed
        ]


def line_items(store: Store, session: dict[str, Any]) -> dict[str, Any]:
    """The session's `line_items` list: each price and quantity with its amounts (the first
    invoice's, once there is one)."""
    from stripe_simulator.checkout import request_of

    request = request_of(store, session["id"])
    ids = request.get("line_item_ids") or [
        f"li_{session['id']}_{n}" for n in range(len(request["line_items"]))
    ]  # a session made before line items had ids
    lines = []
    invoice = store.get("invoice", session["invoice"]) if session.get("invoice") else None
    trial = bool(request["subscription_data"].get("trial_period_days"))
    for line_id, item in zip(ids, request["line_items"], strict=True):
        price = store.get("price", item["price"])
        subtotal = 0 if trial else _amount(price, item.get("quantity"))
        discount = tax = 0
        billed = [
            line for line in (invoice["lines"]["data"] if invoice else [])
            if line["pricing"]["price_details"]["price"] == price["id"]
        ]  # fmt: skip
        if billed:
            subtotal = billed[0]["amount"]
            discount = sum(d["amount"] for d in billed[0]["discount_amounts"])
            tax = sum(t["amount"] for t in billed[0]["taxes"])
        lines.append(
            shape(
                "item",
                id=line_id,
                amount_subtotal=subtotal,
                amount_discount=discount,
                amount_tax=tax,
                amount_total=subtotal - discount + tax,
                currency=price["currency"],
                description=product_name(store, price),
                price=price,
                quantity=None if _metered(price) else int(item["quantity"]),
            )
        )
    return list_object(lines, f"/v1/checkout/sessions/{session['id']}/line_items")
