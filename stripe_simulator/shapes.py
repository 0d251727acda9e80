"""Response objects shaped from Stripe's own published fixtures (fixtures3.json, MIT licence).

Every object the simulator returns starts as a deep copy of the fixture of its type, then gets
its real values: so it has Stripe's fields and types, and the SDK parses it as it would parse
Stripe's answer. The fixture set is frozen at an older API release and its examples carry
placeholders a simple subscription never has (a Connect `transfer_data`, a filled
`pending_update`): `SINCE_FIXTURES` brings each kind to the pinned version (2026-10-28), as the
conformance test (tests/billing/test_conformance.py) checks against Stripe's API description.
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
_ALPHABET = string.ascii_letters + string.digits


@cache
def fixtures() -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = json.loads(FIXTURES_PATH.read_text())["resources"]
    return resources


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


DROP = object()
# Per kind: fields added since the fixtures (with the value of a simple flow), fields removed
# (DROP), and placeholders replaced by what a customer of this portal really has.
SINCE_FIXTURES: dict[str, dict[str, Any]] = {
    "subscription": {
        "cancellation_details": {
            "comment": None, "feedback": None, "feedback_option": None, "reason": None,
        },
        "pending_update": None,
        "transfer_data": None,
        "trial_settings": {
            "end_behavior": {
                "billing_cycle_anchor": None, "missing_payment_method": "create_invoice",
            }
        },
    },
    "subscription_item": {"current_trial": None},
    "subscription_schedule": {"pause_schedules": []},
    "checkout.session": {"allowed_payment_method_types": None},
    "payment_intent": {"allowed_payment_method_types": None, "payment_record": None},
    "product": {"tax_details": None},
    "invoice": {"subscription": DROP},
}  # fmt: skip


def shape(kind: str, **values: Any) -> dict[str, Any]:
    """A `kind` object (e.g. "checkout.session") with Stripe's fields, filled with `values`."""
    obj = copy.deepcopy(fixtures()[kind])
    for field, value in SINCE_FIXTURES.get(kind, {}).items():
        if value is DROP:
            del obj[field]
        else:
            obj[field] = copy.deepcopy(value)
    unknown = set(values) - set(obj)
    if unknown:
        raise KeyError(f"{kind} has no fields {sorted(unknown)}")
    obj.update(values)
    return obj


def list_object(data: list[dict[str, Any]], url: str, has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
