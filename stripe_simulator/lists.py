"""The filters of the list endpoints, as Stripe's API description documents each one.

`matching(store, kind, p)` is what `GET /v1/<kind>s` returns before paging: the store's objects
of that kind, newest first, narrowed by every filter given. Each list endpoint's spec in app.py
names exactly the filters implemented here; a filter Stripe documents that the simulator does
not implement is left out of the spec, so it is refused by name instead of ignored.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stripe_simulator.errors import invalid

if TYPE_CHECKING:
    from stripe_simulator.store import Store

Filter = Callable[[dict[str, Any], dict[str, Any]], bool]
# What the filters read of each object (`created` unless said otherwise).
CREATED = {"invoiceitem": "date"}


def in_range(value: Any, bounds: Any) -> bool:
    """A `created`-style filter: a timestamp (equal), or a hash of gt, gte, lt and lte."""
    if not isinstance(value, int):
        return False
    if isinstance(bounds, str):
        return value == int(bounds)
    tests = {"gt": value.__gt__, "gte": value.__ge__, "lt": value.__lt__, "lte": value.__le__}
    return all(tests[name](int(bound)) for name, bound in bounds.items())


def truth(value: str) -> bool:
    return value == "true"


def _created(kind: str) -> Filter:
    return lambda o, p: in_range(o.get(CREATED.get(kind, "created")), p["created"])


def _field(name: str, param: str = "") -> Filter:
    return lambda o, p: o.get(name) == p[param or name]


def _flag(name: str) -> Filter:
    return lambda o, p: o.get(name) is truth(p[name])


# --- subscriptions ----------------------------------------------------------------------------
def _status(o: dict[str, Any], p: dict[str, Any]) -> bool:
    wanted = p["status"]
    if wanted == "all":
        return True
    if wanted == "ended":  # canceled, and expired before its first payment
        return o["status"] in ("canceled", "incomplete_expired")
    return bool(o["status"] == wanted)


def _has_price(o: dict[str, Any], p: dict[str, Any]) -> bool:
    wanted = p.get("price") or p.get("plan")
    return any(item["price"]["id"] == wanted for item in o["items"]["data"])


def _periods(o: dict[str, Any], which: str) -> int | None:
    found: list[int] = [item[f"current_period_{which}"] for item in o["items"]["data"]]
    if not found:
        return None
    # Stripe: the minimum item current_period_end, the maximum item current_period_start.
    return min(found) if which == "end" else max(found)


SUBSCRIPTION: dict[str, Filter] = {
    "customer": _field("customer"),
    "status": _status,
    "price": _has_price,
    "plan": _has_price,
    "created": _created("subscription"),
    "current_period_start": lambda o, p: in_range(_periods(o, "start"), p["current_period_start"]),
    "current_period_end": lambda o, p: in_range(_periods(o, "end"), p["current_period_end"]),
    "automatic_tax": lambda o, p: (
        o["automatic_tax"]["enabled"] is truth(p["automatic_tax"]["enabled"])
    ),
    "collection_method": _field("collection_method"),
}


# --- the other lists --------------------------------------------------------------------------
def _subscription_of(o: dict[str, Any], p: dict[str, Any]) -> bool:
    parent = o.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return bool(details.get("subscription") == p["subscription"])


def _recurring(o: dict[str, Any], p: dict[str, Any]) -> bool:
    recurring = o.get("recurring")
    if recurring is None:
        return False
    return all(recurring.get(name) == value for name, value in p["recurring"].items())


def _event_type(o: dict[str, Any], p: dict[str, Any]) -> bool:
    """`type` is one name or a group with `*` as a wildcard (`invoice.*`)."""
    pattern = "[^ ]*".join(re.escape(part) for part in p["type"].split("*"))
    return re.fullmatch(pattern, o["type"]) is not None


FILTERS: dict[str, dict[str, Filter]] = {
    "subscription": SUBSCRIPTION,
    "invoice": {
        "customer": _field("customer"),
        "subscription": _subscription_of,
        "status": _field("status"),
        "created": _created("invoice"),
        "collection_method": _field("collection_method"),
        "due_date": lambda o, p: in_range(o.get("due_date"), p["due_date"]),
    },
    "invoiceitem": {
        "customer": _field("customer"),
        "invoice": _field("invoice"),
        # true: not yet on an invoice; false: already on one.
        "pending": lambda o, p: (o["invoice"] is None) is truth(p["pending"]),
        "created": _created("invoiceitem"),
    },
    "price": {
        "active": _flag("active"),
        "currency": lambda o, p: o["currency"] == p["currency"].lower(),
        "product": _field("product"),
        "type": _field("type"),
        "lookup_keys": lambda o, p: o["lookup_key"] in p["lookup_keys"],
        "recurring": _recurring,
        "created": _created("price"),
    },
    "promotion_code": {
        "active": _flag("active"),
        "code": lambda o, p: o["code"].upper() == p["code"].upper(),
        "coupon": lambda o, p: o["promotion"]["coupon"] == p["coupon"],
        "customer": _field("customer"),
        "created": _created("promotion_code"),
    },
    "billing.meter": {"status": _field("status")},
    "event": {
        "type": _event_type,
        "types": lambda o, p: o["type"] in p["types"],
        "created": _created("event"),
    },
}
PAGING = {"limit", "starting_after", "ending_before", "expand"}


def matching(store: Store, kind: str, p: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of `kind`, newest first, that pass every filter in `p`. Subscriptions
    without a `status` are those not canceled, as Stripe lists them."""
    if kind == "event":
        # v1 events only: a v2 event is fetched from /v2/core/events, never listed here.
        found = [e for e in reversed(store.events) if e["object"] == "event"]
        if "type" in p and "types" in p:
            raise invalid("types", "You may pass either `type` or `types`, but not both.")
        if len(p.get("types") or []) > 20:
            raise invalid("types", "You may pass up to 20 event types in `types`.")
    else:
        found = store.all(kind)
    if kind == "subscription" and "status" not in p:
        found = [o for o in found if o["status"] != "canceled"]
    filters = FILTERS.get(kind, {})
    for name in p:
        if name not in PAGING:
            found = [o for o in found if filters[name](o, p)]
    return found
