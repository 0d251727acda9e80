"""Response objects with Stripe's fields, each at the value Stripe gives when its feature is not
used, until the simulator fills what it models.

Every object the simulator returns starts as a deep copy of its kind's template in
`stripe_objects.json`, generated (tests/billing/reference.py) from Stripe's own published
fixtures (fixtures3.json, MIT licence: which fields and sub-objects a kind has) and Stripe's API
description for the pinned version (the `stripe` package's declarations: which fields exist,
which may be null, which are expandable). The fixtures' sample values (a shipping cost of
1,555,417,355, `"message"` as a custom text, 1234567890 as a date) never reach an answer: a
field Stripe may send as null is null, an array empty, a number 0, a boolean false, and a hash
has its own fields at theirs. Where Stripe's documented value for an unused feature is not
that (`tax_exempt: "none"`, `payment_method_types: ["card"]`), `DEFAULTS` gives it. Then the
simulator's own values. tests/stripe_simulator/test_unused_fields.py walks every kind the
simulator answers with and fails on a fixture's sample value.
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES_PATH = Path(__file__).with_name("fixtures3.json")
OBJECTS_FILE = Path(__file__).with_name("stripe_objects.json")
# Every kind of object the simulator makes (with `shape`).
SHAPED = (
    "billing.meter", "billing.meter_event", "billing_portal.session", "checkout.session",
    "coupon", "customer", "discount", "event", "invoice", "invoiceitem", "item", "payment_intent",
    "payment_method", "plan", "price", "product", "promotion_code", "subscription",
    "subscription_item", "subscription_schedule",
)  # fmt: skip
_ALPHABET = string.ascii_letters + string.digits


@cache
def fixtures() -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = json.loads(FIXTURES_PATH.read_text())["resources"]
    return resources


@cache
def objects() -> dict[str, Any]:
    """stripe_objects.json: `defaults` and `items` (templates), `expandable` (by kind)."""
    loaded: dict[str, Any] = json.loads(OBJECTS_FILE.read_text())
    return loaded


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


# Per kind: Stripe's value for a feature not used, where it is not the generic one (null for a
# field that may be null, an empty array, 0, false).
DEFAULTS: dict[str, dict[str, Any]] = {
    "checkout.session": {
        "metadata": {}, "payment_method_collection": "always", "payment_method_options": {},
        "payment_method_types": ["card"],
    },
    "customer": {
        "delinquent": False, "next_invoice_sequence": 1, "preferred_locales": [],
        "tax_exempt": "none",
    },
    "invoice": {
        "account_country": "US", "customer_tax_exempt": "none", "customer_tax_ids": [],
        "metadata": {}, "total_discount_amounts": [], "total_pretax_credit_amounts": [],
        "total_taxes": [],
    },
    "invoiceitem": {"discounts": [], "metadata": {}, "tax_rates": []},
    "payment_intent": {"payment_method_options": {}, "payment_method_types": ["card"]},
    "payment_method": {"metadata": {}},
    "plan": {"billing_scheme": "per_unit", "metadata": {}},
    "price": {"metadata": {}, "tax_behavior": "unspecified"},
    "product": {"metadata": {}},
    "coupon": {"metadata": {}},
    "promotion_code": {"metadata": {}},
    "subscription": {
        "cancellation_details": {
            "comment": None, "feedback": None, "feedback_option": None, "reason": None,
        },
        "default_tax_rates": [],
        "payment_settings": {
            "payment_method_options": None, "payment_method_types": None,
            "save_default_payment_method": "off",
        },
        "trial_settings": {
            "end_behavior": {
                "billing_cycle_anchor": None, "missing_payment_method": "create_invoice",
            },
        },
    },
    "subscription_item": {"metadata": {}, "tax_rates": []},
    "subscription_schedule": {"metadata": {}},
}  # fmt: skip
# The same for the elements of a kind's arrays ("<kind> <path>", as `item` takes them).
ITEM_DEFAULTS: dict[str, dict[str, Any]] = {
    "subscription_schedule phases": {"default_tax_rates": [], "metadata": {}},
    "subscription_schedule phases.items": {"metadata": {}, "tax_rates": []},
}


def shape(kind: str, **values: Any) -> dict[str, Any]:
    """A `kind` object (e.g. "checkout.session") with Stripe's fields, filled with `values`."""
    return _filled(objects()["defaults"][kind], DEFAULTS.get(kind, {}), kind, values)


def item(kind: str, path: str, **values: Any) -> dict[str, Any]:
    """An element of the array at `path` of a `kind` object (a schedule's "phases"), shaped as
    `shape` shapes objects."""
    where = f"{kind} {path}"
    return _filled(objects()["items"][where], ITEM_DEFAULTS.get(where, {}), where, values)


def _filled(
    template: dict[str, Any], defaults: dict[str, Any], where: str, values: dict[str, Any]
) -> dict[str, Any]:
    """A copy of `template` with our `defaults` and then `values`, each of them a field it has."""
    obj: dict[str, Any] = copy.deepcopy(template)
    obj.update(copy.deepcopy(defaults))
    unknown = set(values) - set(obj)
    if unknown:
        raise KeyError(f"{where} has no fields {sorted(unknown)}")
    obj.update(values)
    return obj


def list_object(data: list[dict[str, Any]], url: str, has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
