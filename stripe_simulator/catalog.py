"""Products and prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from stripe_simulator.errors import StripeError, invalid, unimplemented
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, now


def create_product(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    product_id = p.get("id") or new_id("prod")
    if store.find(product_id) is not None:
        raise StripeError(
            400, f"Product already exists with ID {product_id}", "resource_already_exists"
        )
    created = now()
    return store.put(
        shape(
            "product",
            id=product_id,
            name=p.get("name", ""),
            description=p.get("description") or None,
            metadata=p.get("metadata", {}),
            created=created,
            updated=created,
            default_price=None,
            images=[],
            marketing_features=[],
            package_dimensions=None,
            type="service",
            active=p.get("active", "true") != "false",
        )
    )


def update(store: Store, kind: str, object_id: str, p: dict[str, Any]) -> dict[str, Any]:
    obj = store.get(kind, object_id)
    if kind == "price" and "lookup_key" in p:
        _take_lookup_key(store, p["lookup_key"] or None, p.get("transfer_lookup_key") == "true")
        obj["lookup_key"] = p["lookup_key"] or None
    for field in ("name", "description", "active", "nickname"):
        if field in p and field in obj:
            obj[field] = (p[field] != "false") if field == "active" else p[field]
    obj.setdefault("metadata", {}).update(p.get("metadata", {}))
    if "updated" in obj:
        obj["updated"] = now()
    return obj


def create_price(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    store.get("product", p.get("product", ""), "product")
    lookup_key = p.get("lookup_key")
    _take_lookup_key(store, lookup_key, p.get("transfer_lookup_key") == "true")
    recurring = p.get("recurring") or {}
    if recurring.get("interval_count", "1") != "1":
        raise unimplemented("recurring[interval_count]", "An interval_count other than 1")
    if recurring.get("usage_type") == "metered":
        if not recurring.get("meter"):
            raise invalid(
                "recurring[meter]",
                "A meter is required for prices with `recurring[usage_type]=metered`.",
                "parameter_missing",
            )
        store.get("billing.meter", recurring["meter"], "recurring[meter]")
    if "unit_amount" in p and "unit_amount_decimal" in p:
        raise invalid(
            "unit_amount",
            "You may only specify one of these parameters: unit_amount, unit_amount_decimal.",
            "parameters_exclusive",
        )
    decimal = p.get("unit_amount_decimal") or p.get("unit_amount") or "0"
    return store.put(
        shape(
            "price",
            id=new_id("price"),
            created=now(),
            product=p["product"],
            currency=p.get("currency", "usd"),
            unit_amount=int(Decimal(decimal))
            if Decimal(decimal) == int(Decimal(decimal))
            else None,
            unit_amount_decimal=str(decimal),
            lookup_key=lookup_key,
            nickname=p.get("nickname"),
            active=p.get("active", "true") != "false",
            metadata=p.get("metadata", {}),
            custom_unit_amount=None,
            transform_quantity=None,
            # A price without `recurring` is one-time (Checkout's payment mode).
            type="recurring" if recurring else "one_time",
            recurring={
                "interval": recurring.get("interval", "month"),
                "interval_count": 1,
                "meter": recurring.get("meter"),
                "usage_type": recurring.get("usage_type", "licensed"),
                "trial_period_days": None,
            }
            if recurring
            else None,
        )
    )


def _take_lookup_key(store: Store, lookup_key: str | None, transfer: bool) -> None:
    """A lookup key names one price: taken from another price only with `transfer_lookup_key`."""
    if not lookup_key:
        return
    for other in store.all("price"):
        if other["lookup_key"] == lookup_key:
            if not transfer:
                raise StripeError(400, "A price with this lookup_key exists", "lookup_key_exists")
            other["lookup_key"] = None


def product_name(store: Store, price: dict[str, Any]) -> str:
    product = store.objects.get("product", {}).get(price["product"], {})
    return str(product.get("name", "item"))
