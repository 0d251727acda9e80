"""Mirror the catalog's paid plans to Stripe Products, Prices and one Billing Meter.

Everything is matched by stable keys (product id ``tollgate_plan_<slug>``, price lookup keys
``tollgate_<slug>_monthly`` and ``tollgate_<slug>_overage``, with a yearly price also
``tollgate_<slug>_yearly`` and ``tollgate_<slug>_overage_yearly``, the meter's event name), so
applying the catalog twice creates nothing new. Prices are immutable in Stripe: a changed
amount gets a new price that takes over the lookup key, and the old one is archived.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from billing import gateway
from catalog.models import Plan


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0


def sync_catalog(plans: list[Plan] | None = None) -> SyncResult:
    result = SyncResult()
    paid = [p for p in (plans if plans is not None else Plan.objects.all()) if is_paid(p)]
    if not paid:
        return result
    meter_id = ensure_meter(result)
    for plan in paid:
        sync_plan(plan, meter_id, result)
    return result


def is_paid(plan: Plan) -> bool:
    return plan.monthly_price > 0 or plan.has_overage


def ensure_meter(result: SyncResult) -> str:
    name = settings.STRIPE_METER_EVENT_NAME
    for meter in gateway.list_meters():
        if meter["event_name"] == name:
            return str(meter["id"])
    params = {
        "display_name": "API calls beyond the plan's quota",
        "event_name": name,
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
        "value_settings": {"event_payload_key": "value"},
    }
    result.created += 1
    return str(gateway.create_meter(params, key=f"meter:{name}")["id"])


def sync_plan(plan: Plan, meter_id: str, result: SyncResult) -> None:
    product_id = ensure_product(plan, result)
    ids = {"stripe_product_id": product_id}
    for interval, price, licensed_field, overage_field in (
        ("month", plan.monthly_price, "stripe_price_id", "stripe_overage_price_id"),
        ("year", plan.yearly_price, "stripe_yearly_price_id", "stripe_yearly_overage_price_id"),
    ):
        ids[licensed_field] = ids[overage_field] = ""
        if price is None:
            continue
        licensed = {
            "unit_amount_decimal": plain(cents(price)),
            "recurring": {"interval": interval, "usage_type": "licensed"},
        }
        key = price_key(plan, interval)
        ids[licensed_field] = ensure_price(plan, product_id, key, licensed, result)
        ids[overage_field] = sync_overage(plan, product_id, meter_id, interval, result)
    Plan.objects.filter(pk=plan.pk).update(**ids)
    for name, value in ids.items():
        setattr(plan, name, value)


def price_key(plan: Plan, interval: str, metered: bool = False) -> str:
    """The lookup key: the monthly ones keep the names they had before yearly prices."""
    kind = "overage" if metered else "monthly"
    suffix = kind if interval == "month" else f"{kind}_yearly" if metered else "yearly"
    return f"tollgate_{plan.slug}_{suffix}"


def sync_overage(
    plan: Plan, product_id: str, meter_id: str, interval: str, result: SyncResult
) -> str:
    if plan.overage_price_per_1000 is None:
        return ""
    # Metered per call: the price of 1,000 calls spread over each call, in cents.
    per_call = cents(plan.overage_price_per_1000) / 1000
    overage = {
        "unit_amount_decimal": plain(per_call.normalize()),
        "recurring": {"interval": interval, "usage_type": "metered", "meter": meter_id},
    }
    return ensure_price(plan, product_id, price_key(plan, interval, metered=True), overage, result)


def cents(amount: Decimal) -> Decimal:
    return (amount * 100).quantize(Decimal("0.0001")).normalize()


def plain(amount: Decimal) -> str:
    """A decimal as Stripe accepts it: "1000", never the exponent form "1E+3"."""
    return f"{amount:f}"


def ensure_product(plan: Plan, result: SyncResult) -> str:
    product_id = f"tollgate_plan_{plan.slug}"
    wanted = {"name": plan.name, "description": plan.description or plan.name}
    product = gateway.retrieve_product(product_id)
    if product is None:
        params = {"id": product_id, **wanted, "metadata": {"tollgate_plan": plan.slug}}
        gateway.create_product(params, key=f"product:{product_id}")
        result.created += 1
    elif any(product.get(k) != v for k, v in wanted.items()) or not product.get("active"):
        gateway.update_product(product_id, {**wanted, "active": True})
        result.updated += 1
    return product_id


def ensure_price(
    plan: Plan, product_id: str, lookup_key: str, wanted: dict[str, Any], result: SyncResult
) -> str:
    existing = gateway.prices_by_lookup_key([lookup_key]).get(lookup_key)
    if existing and same_price(existing, plan, wanted):
        return str(existing["id"])
    params = {
        **wanted,
        "currency": plan.currency,
        "product": product_id,
        "lookup_key": lookup_key,
        "transfer_lookup_key": True,
        "metadata": {"tollgate_plan": plan.slug},
    }
    fingerprint = f"{lookup_key}:{plan.currency}:{wanted['unit_amount_decimal']}"
    price = gateway.create_price(params, key=f"price:{fingerprint}")
    if existing:
        gateway.update_price(existing["id"], {"active": False})
        result.updated += 1
    else:
        result.created += 1
    return str(price["id"])


def same_price(existing: dict[str, Any], plan: Plan, wanted: dict[str, Any]) -> bool:
    return (
        existing["currency"] == plan.currency
        and Decimal(existing["unit_amount_decimal"]) == Decimal(wanted["unit_amount_decimal"])
        and existing["recurring"]["usage_type"] == wanted["recurring"]["usage_type"]
        and existing["recurring"]["interval"] == wanted["recurring"]["interval"]
        and existing["product"] == product_key(existing, plan)
    )


def product_key(existing: dict[str, Any], plan: Plan) -> str:
    product = existing["product"]
    return product if isinstance(product, str) else str(product["id"])
