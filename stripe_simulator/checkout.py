"""Checkout Sessions: what the hosted Checkout page subscribes a customer to."""

from __future__ import annotations

from typing import Any

from stripe_simulator import (
    checkout_details,
    coupons,
    payment_intents,
    payment_methods,
    subscriptions,
    taxes,
)
from stripe_simulator.errors import StripeError, invalid
from stripe_simulator.schedules import inactive_price
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, now

# Kept beside each session: what Checkout will subscribe the customer to.
REQUESTS = "_checkout_request"


def create_session(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    mode = p.get("mode")
    if mode not in ("subscription", "payment"):
        raise StripeError(400, "The simulator supports mode=subscription and payment", param="mode")
    customer = store.get("customer", p.get("customer", ""), "customer")
    items = p.get("line_items") or []
    if not items:
        kind = "recurring" if mode == "subscription" else "one-time"
        message = f"You must provide at least one {kind} price in `{mode}` mode."
        raise invalid("line_items", message, "parameter_missing")
    amount = 0
    for index, item in enumerate(items):
        where = f"line_items[{index}][price]"
        price = store.get("price", item.get("price", ""), where)
        if not price["active"]:
            raise inactive_price(where)
        if mode == "payment" and price["type"] == "recurring":
            raise invalid(
                where,
                "You specified `payment` mode but passed a recurring price. Either switch to "
                "`subscription` mode or use only one-time prices.",
            )
        amount += int(price["unit_amount"] or 0) * int(item.get("quantity") or 1)
    checkout_details.check_line_items(store, mode, items)
    if mode == "subscription" and p.get("payment_intent_data"):
        raise invalid(
            "payment_intent_data",
            "You can not pass `payment_intent_data` in `subscription` mode.",
        )
    automatic_tax = (p.get("automatic_tax") or {}).get("enabled") == "true"
    if automatic_tax and (p.get("customer_update") or {}).get("address") != "auto":
        # Stripe Tax needs the address Checkout collects saved on the existing customer.
        raise invalid(
            "customer_update[address]",
            "Automatic tax calculation in Checkout requires a valid address on the Customer. "
            "Add a valid address to the Customer or set either `customer_update[address]` to "
            "'auto' or `customer_update[shipping]` to 'auto' to save the address entered in "
            "Checkout to the Customer.",
            "customer_tax_location_invalid",
        )
    session_id = new_id("cs_test")
    created = now()
    session = shape(
        "checkout.session",
        id=session_id,
        created=created,
        expires_at=created + 86400,
        mode=mode,
        customer=customer["id"],
        client_reference_id=p.get("client_reference_id"),
        success_url=p.get("success_url", "").replace("{CHECKOUT_SESSION_ID}", session_id),
        cancel_url=p.get("cancel_url"),
        metadata=p.get("metadata", {}),
        payment_intent=None,
        payment_status="unpaid",
        status="open",
        subscription=None,
        currency="usd",
        url=f"{store.base_url}/checkout/{session_id}",
        automatic_tax=taxes.automatic_tax(automatic_tax, "checkout.session"),
        billing_address_collection=p.get("billing_address_collection"),
    )
    if mode == "payment":
        # Before the customer's address is known, no tax: it is computed on the hosted page.
        session.update(amount_subtotal=amount, amount_total=amount, invoice=None)
        session["total_details"] = {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0}
    if (p.get("tax_id_collection") or {}).get("enabled") == "true":
        session["tax_id_collection"] = {"enabled": True, "required": "never"}  # optional field
    store.put(
        {
            "id": session_id,
            "object": REQUESTS,
            "line_items": items,
            "subscription_data": p.get("subscription_data") or {},
            "payment_intent_data": p.get("payment_intent_data") or {},
            "automatic_tax": automatic_tax,
            "allow_promotion_codes": p.get("allow_promotion_codes") == "true",
            "collects_address": automatic_tax or p.get("billing_address_collection") == "required",
        }
    )
    checkout_details.at_creation(store, session, p)
    return store.put(session)


def request_of(store: Store, session_id: str) -> dict[str, Any]:
    return store.get(REQUESTS, session_id)


def pay(store: Store, session_id: str, card: str, promotion_code: str = "") -> dict[str, Any]:
    """The hosted page's "Pay": the card, and the promotion code typed in, if the session
    allows them."""
    session = store.get("checkout.session", session_id)
    if session["status"] != "open":
        return session
    request = request_of(store, session_id)
    if promotion_code and not request.get("allow_promotion_codes"):
        raise StripeError(400, "This session accepts no promotion codes.", param="code")
    if promotion_code and coupons.find_code(store, promotion_code) is None:
        raise StripeError(400, "This code is invalid.", "promotion_code_invalid", "code")
    checkout_details.at_payment(store, session)
    if session["mode"] == "payment":
        return pay_once(store, session, request, card)
    if payment_methods.check_card(card) == payment_methods.ATTACHES_THEN_DECLINES:
        raise StripeError(402, "Your card was declined.", "card_declined", kind="card_error")
    method = payment_methods.attach_card(store, session["customer"], card)
    data = request["subscription_data"]
    trial_days = int(data.get("trial_period_days") or 0)
    collect_address(store, session, request)
    sub = subscriptions.create(
        store, session["customer"], request["line_items"], data.get("metadata", {}), trial_days,
        method["id"], automatic_tax=bool(request.get("automatic_tax")),
        promotion_code=promotion_code, session_id=session_id,
    )  # fmt: skip
    if request.get("automatic_tax"):
        session["automatic_tax"]["status"] = "complete"
    session.update(status="complete", payment_status="paid", subscription=sub["id"])
    checkout_details.at_completion(store, session, sub)
    store.emit("checkout.session.completed", session)
    return session


def collect_address(store: Store, session: dict[str, Any], request: dict[str, Any]) -> None:
    """The hosted page's address form, filled in with the simulator's one test address, saved
    on the customer (the session's `customer_update[address]=auto`)."""
    if request.get("collects_address"):
        store.get("customer", session["customer"])["address"] = dict(taxes.TEST_ADDRESS)
        session["customer_details"]["address"] = dict(taxes.TEST_ADDRESS)


def pay_once(
    store: Store, session: dict[str, Any], request: dict[str, Any], card: str
) -> dict[str, Any]:
    """Payment mode: the card is attached and charged once by a PaymentIntent (a declined
    charge leaves the session open, as the hosted page lets the customer try another card).
    With automatic tax, the tax on the address entered is added to what is charged:
    `amount_total` is "after discounts and taxes" (Checkout.Session)."""
    collect_address(store, session, request)
    if request.get("automatic_tax"):
        tax = taxes.tax_on(session["amount_subtotal"])
        session["total_details"]["amount_tax"] = tax
        session["amount_total"] = session["amount_subtotal"] + tax
        session["automatic_tax"]["status"] = "complete"
    method = payment_methods.attach_card(store, session["customer"], card)
    intent = payment_intents.pay_in_checkout(
        store, session["customer"], method["id"], session["amount_total"], session["currency"],
        request["payment_intent_data"],
    )  # fmt: skip
    session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
    store.emit("checkout.session.completed", session)
    return session
