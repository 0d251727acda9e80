"""Cards on file: Checkout and the customer portal attach one as the customer's default."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

from stripe_simulator.errors import StripeError
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, now

SUCCESS_CARDS = {"4242424242424242": "visa", "5555555555554444": "mastercard"}
DECLINED_CARD = "4000000000000002"
# Attaches to a customer; every charge of it is declined (stripe_simulator/payment_intents.py).
ATTACHES_THEN_DECLINES = "4000000000000341"
# Needs authentication on every payment: off-session charges of it fail (payment_intents.py).
ALWAYS_AUTHENTICATES = "4000002760003184"
ATTACHABLE_CARDS = {**SUCCESS_CARDS, ATTACHES_THEN_DECLINES: "visa", ALWAYS_AUTHENTICATES: "visa"}


def check_card(number: str) -> str:
    """The card's digits, or the error Stripe gives for a declined or unknown test card."""
    digits = "".join(number.split())
    if digits not in ATTACHABLE_CARDS:
        message = (
            "Your card was declined."
            if digits == DECLINED_CARD
            else "Use 4242 4242 4242 4242 or 5555 5555 5555 4444."
        )
        raise StripeError(402, message, "card_declined", kind="card_error")
    return digits


def attach_card(store: Store, customer_id: str, number: str) -> dict[str, Any]:
    """A card payment method, attached and made the customer's (and its subscriptions') default."""
    digits = check_card(number)
    brand = ATTACHABLE_CARDS[digits]
    method = shape(
        "payment_method",
        id=new_id("pm"),
        type="card",
        created=now(),
        customer=customer_id,
        customer_account=None,
        livemode=False,
        metadata={},
        allow_redisplay="always",
        billing_details={
            "address": {
                "city": None,
                "country": None,
                "line1": None,
                "line2": None,
                "postal_code": None,
                "state": None,
            },
            "email": None,
            "name": None,
            "phone": None,
            "tax_id": None,
        },
    )
    card = method["card"]
    card.update(
        brand=brand,
        display_brand=brand,
        last4=digits[-4:],
        exp_month=12,
        exp_year=datetime.now(UTC).year + 3,
        fingerprint=hashlib.sha256(digits.encode()).hexdigest()[:16],
        country="US",  # Stripe's test cards are issued in the US
        checks={
            "address_line1_check": None,
            "address_postal_code_check": None,
            "cvc_check": "pass",
        },  # the hosted page takes a CVC
        three_d_secure_usage={"supported": True},
        generated_from=None,
        wallet=None,
        networks={"available": [brand], "preferred": None},
    )
    store.put(method)
    store.emit("payment_method.attached", method)
    customer = store.get("customer", customer_id)
    before = copy.deepcopy(customer)
    customer["invoice_settings"]["default_payment_method"] = method["id"]
    store.updated("customer.updated", customer, before)
    for sub in store.list_for("subscription", {"customer": customer_id}):
        sub_before = copy.deepcopy(sub)
        sub["default_payment_method"] = method["id"]
        store.updated("customer.subscription.updated", sub, sub_before)
    return method
