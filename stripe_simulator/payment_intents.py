"""PaymentIntents: the one-time payments of Checkout's payment mode, and off-session charges of
a saved card (``confirm=true&off_session=true``), as Stripe documents them.

Stripe's test card 4000 0000 0000 0341 attaches to a customer, but every charge of it is
declined: the charge answers 402 ``card_declined`` with the PaymentIntent in the error, left
``requires_payment_method`` with its ``last_payment_error``, and emits
``payment_intent.payment_failed``. 4000 0027 6000 3184 needs authentication on every payment:
the hosted Checkout page "authenticates" it, an off-session charge fails with
``authentication_required``.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from stripe_simulator.errors import StripeError, invalid
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, now

CHARGE_DECLINED_CARD = "4000000000000341"
ALWAYS_AUTHENTICATE_CARD = "4000002760003184"


def fingerprint(digits: str) -> str:
    return hashlib.sha256(digits.encode()).hexdigest()[:16]


def create(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    if p.get("off_session") == "true" and p.get("confirm") != "true":
        raise invalid("off_session", "off_session can only be used with confirm=true.")
    customer = store.get("customer", p["customer"], "customer")["id"] if p.get("customer") else None
    amount = int(p["amount"])
    if amount < 50:
        raise invalid("amount", "Amount must be at least $0.50 usd", "amount_too_small")
    intent_id = new_id("pi")
    intent = shape(
        "payment_intent",
        id=intent_id,
        amount=amount,
        amount_details={"tip": {}},
        automatic_payment_methods=None,
        canceled_at=None,
        client_secret=f"{intent_id}_secret_{secrets.token_hex(12)}",
        created=now(),
        currency=p["currency"].lower(),
        customer=customer,
        description=p.get("description"),
        last_payment_error=None,
        metadata=p.get("metadata", {}),
        next_action=None,
        payment_method=None,
        payment_method_configuration_details=None,
        processing=None,
        setup_future_usage=p.get("setup_future_usage"),
        shipping=None,
        transfer_data=None,
        managed_payments=None,
        status="requires_payment_method",
    )
    store.put(intent)
    store.emit("payment_intent.created", intent)
    if p.get("payment_method"):
        attach_method(store, intent, p["payment_method"])
    if p.get("confirm") == "true":
        return confirm(store, intent["id"], {"off_session": p.get("off_session", "")})
    return intent


def attach_method(store: Store, intent: dict[str, Any], method_id: str) -> None:
    method = store.get("payment_method", method_id, "payment_method")
    if intent["customer"] and method.get("customer") != intent["customer"]:
        raise invalid(
            "payment_method",
            f"The provided PaymentMethod {method_id} does not belong to this customer.",
        )
    intent.update(payment_method=method_id, status="requires_confirmation")


def confirm(store: Store, intent_id: str, p: dict[str, Any]) -> dict[str, Any]:
    intent = store.get("payment_intent", intent_id)
    if intent["status"] == "succeeded":
        raise StripeError(
            400, "This PaymentIntent has already succeeded.", "payment_intent_unexpected_state"
        )
    if p.get("payment_method"):
        attach_method(store, intent, p["payment_method"])
    if not intent["payment_method"]:
        raise invalid(
            "payment_method",
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            "payment_intent_unexpected_state",
        )
    method = store.get("payment_method", intent["payment_method"])
    if method["card"]["fingerprint"] == fingerprint(CHARGE_DECLINED_CARD):
        decline(store, intent, method, "card_declined", "Your card was declined.")
    if p.get("off_session") == "true" and method["card"]["fingerprint"] == fingerprint(
        ALWAYS_AUTHENTICATE_CARD
    ):
        decline(
            store, intent, method, "authentication_required",
            "Your card was declined. This transaction requires authentication.",
        )  # fmt: skip
    intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=new_id("ch"))
    store.emit("payment_intent.succeeded", intent)
    return intent


def decline(
    store: Store, intent: dict[str, Any], method: dict[str, Any], code: str, message: str
) -> None:
    decline_code = "generic_decline" if code == "card_declined" else code
    failure = StripeError(402, message, code, kind="card_error")
    error = {**failure.body["error"], "decline_code": decline_code, "payment_method": method}
    intent.update(status="requires_payment_method", last_payment_error=error, payment_method=None)
    store.emit("payment_intent.payment_failed", intent)
    body: dict[str, Any] = failure.body["error"]  # the card error names the intent
    body.update(decline_code=decline_code, payment_intent=intent)
    raise failure


def pay_in_checkout(
    store: Store, customer_id: str, method_id: str, amount: int, currency: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The PaymentIntent a payment-mode Checkout Session confirms with the card typed in."""
    params = {"customer": customer_id, "amount": str(amount), "currency": currency,
              "payment_method": method_id, "confirm": "true",
              "metadata": data.get("metadata") or {}}  # fmt: skip
    for name in ("setup_future_usage", "description"):
        if data.get(name):
            params[name] = data[name]
    return create(store, params)
