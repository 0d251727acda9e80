"""Mirror the catalog's paid plans to Stripe Products, Prices and one Billing Meter.

Everything is matched by stable keys (product id ``tollgate_plan_<slug>``, price lookup keys
``tollgate_<slug>_monthly`` and ``tollgate_<slug>_overage``, with a yearly price also
``tollgate_<slug>_yearly`` and ``tollgate_<slug>_overage_yearly``, a time pass's one-time price
``tollgate_<slug>_pass``, a credit pack's product ``tollgate_pack_<slug>`` and one-time price
``tollgate_pack_<slug>``, the meter's event name), so
applying the catalog twice creates nothing new. Prices are immutable in Stripe: a changed
amount gets a new price that takes over the lookup key, and the old one is archived.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings

from billing import gateway
from catalog.models import Coupon, CreditPack, Plan


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0


def sync_catalog(plans: list[Plan] | None = None) -> SyncResult:
    result = SyncResult()
    for coupon in Coupon.objects.all():
        sync_coupon(coupon, result)
    for pack in CreditPack.objects.filter(is_retired=False):
        sync_credit_pack(pack, result)
    paid = [p for p in (plans if plans is not None else Plan.objects.all()) if is_paid(p)]
    if not paid:
        return result
    meter_id = ensure_meter(result)
    for plan in paid:
        sync_plan(plan, meter_id, result)
    return result


def is_paid(plan: Plan) -> bool:
    return plan.monthly_price > 0 or plan.has_overage or plan.pass_price is not None


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
        if price is None or sold_only_as_pass(plan):
            continue
        licensed = {
            "unit_amount_decimal": plain(cents(price)),
            "recurring": {"interval": interval, "usage_type": "licensed"},
        }
        key = price_key(plan, interval)
        ids[licensed_field] = ensure_price(plan, product_id, key, licensed, result)
        ids[overage_field] = sync_overage(plan, product_id, meter_id, interval, result)
    ids["stripe_pass_price_id"] = sync_pass(plan, product_id, result)
    Plan.objects.filter(pk=plan.pk).update(**ids)
    for name, value in ids.items():
        setattr(plan, name, value)


def sold_only_as_pass(plan: Plan) -> bool:
    """A pass whose monthly price is 0 and has no overage: no subscription to sell."""
    return plan.pass_price is not None and plan.monthly_price == 0 and not plan.has_overage


def sync_pass(plan: Plan, product_id: str, result: SyncResult) -> str:
    """A time pass's one-time price (Checkout mode=payment); "" when the plan is no pass."""
    if plan.pass_price is None:
        return ""
    wanted = {"unit_amount_decimal": plain(cents(plan.pass_price))}
    return ensure_price(plan, product_id, f"tollgate_{plan.slug}_pass", wanted, result)


def sync_credit_pack(pack: CreditPack, result: SyncResult) -> None:
    product_id = f"tollgate_pack_{pack.slug}"
    ensure_product(pack, result, product_id)
    wanted = {"unit_amount_decimal": plain(cents(pack.price))}
    price_id = ensure_price(pack, product_id, product_id, wanted, result)
    CreditPack.objects.filter(pk=pack.pk).update(
        stripe_product_id=product_id, stripe_price_id=price_id
    )
    pack.stripe_product_id, pack.stripe_price_id = product_id, price_id


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


def tollgate_metadata(item: Plan | CreditPack) -> dict[str, str]:
    return {"tollgate_plan" if isinstance(item, Plan) else "tollgate_credit_pack": item.slug}


def ensure_product(item: Plan | CreditPack, result: SyncResult, product_id: str = "") -> str:
    product_id = product_id or f"tollgate_plan_{item.slug}"
    wanted = {"name": item.name, "description": item.description or item.name}
    product = gateway.retrieve_product(product_id)
    if product is None:
        params = {"id": product_id, **wanted, "metadata": tollgate_metadata(item)}
        gateway.create_product(params, key=f"product:{product_id}")
        result.created += 1
    elif any(product.get(k) != v for k, v in wanted.items()) or not product.get("active"):
        gateway.update_product(product_id, {**wanted, "active": True})
        result.updated += 1
    return product_id


def ensure_price(
    plan: Plan | CreditPack,
    product_id: str,
    lookup_key: str,
    wanted: dict[str, Any],
    result: SyncResult,
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
        "metadata": tollgate_metadata(plan),
    }
    fingerprint = f"{lookup_key}:{plan.currency}:{wanted['unit_amount_decimal']}"
    price = gateway.create_price(params, key=f"price:{fingerprint}")
    if existing:
        gateway.update_price(existing["id"], {"active": False})
        result.updated += 1
    else:
        result.created += 1
    return str(price["id"])


def same_price(existing: dict[str, Any], plan: Plan | CreditPack, wanted: dict[str, Any]) -> bool:
    recurring, wanted_recurring = existing.get("recurring") or {}, wanted.get("recurring") or {}
    return (
        existing["currency"] == plan.currency
        and Decimal(existing["unit_amount_decimal"]) == Decimal(wanted["unit_amount_decimal"])
        and recurring.get("usage_type") == wanted_recurring.get("usage_type")
        and recurring.get("interval") == wanted_recurring.get("interval")
        and existing["product"] == product_key(existing, plan)
    )


def product_key(existing: dict[str, Any], plan: Plan | CreditPack) -> str:
    product = existing["product"]
    return product if isinstance(product, str) else str(product["id"])


def coupon_terms(coupon: Coupon) -> dict[str, Any]:
    terms: dict[str, Any] = {"duration": coupon.duration}
    if coupon.percent_off is not None:
        terms["percent_off"] = plain(coupon.percent_off.normalize())
    else:
        assert coupon.amount_off is not None  # Coupon.clean: one of the two
        terms.update(amount_off=int(cents(coupon.amount_off)), currency=coupon.currency)
    if coupon.duration_in_months is not None:
        terms["duration_in_months"] = coupon.duration_in_months
    return terms


def sync_coupon(coupon: Coupon, result: SyncResult) -> None:
    """A Stripe coupon per catalog coupon and terms (a coupon's terms cannot change in Stripe,
    so new terms are a new coupon, id ``tollgate_<slug>_<digest of the terms>``), then each of
    its promotion codes, moved to the new coupon when the terms change."""
    terms = coupon_terms(coupon)
    digest = hashlib.sha256(json.dumps(terms, sort_keys=True).encode()).hexdigest()[:10]
    coupon_id = f"tollgate_{coupon.slug}_{digest}"
    if gateway.retrieve_coupon(coupon_id) is None:
        params = {"id": coupon_id, "name": coupon.name, **terms,
                  "metadata": {"tollgate_coupon": coupon.slug}}  # fmt: skip
        gateway.create_coupon(params, key=f"coupon:{coupon_id}")
        result.created += 1
    for code in coupon.promotion_codes:
        sync_promotion_code(coupon, coupon_id, code, result)
    if coupon.stripe_coupon_id != coupon_id:
        Coupon.objects.filter(pk=coupon.pk).update(stripe_coupon_id=coupon_id)
        coupon.stripe_coupon_id = coupon_id


def sync_promotion_code(coupon: Coupon, coupon_id: str, code: str, result: SyncResult) -> None:
    active = gateway.promotion_codes(code)
    if any(_coupon_of(p) == coupon_id for p in active):
        return
    for stale in active:  # the same code on an older coupon (or someone else's): retire it
        gateway.deactivate_promotion_code(str(stale["id"]))
        result.updated += 1
    params = {
        "code": code,
        "promotion": {"type": "coupon", "coupon": coupon_id},
        "metadata": {"tollgate_coupon": coupon.slug},
    }
    # No fixed idempotency key: a code retired earlier must not be replayed back to life.
    gateway.create_promotion_code(params, key=None)
    result.created += 1


def _coupon_of(promotion_code: dict[str, Any]) -> str:
    coupon = promotion_code["promotion"]["coupon"]
    return str(coupon if isinstance(coupon, str) else coupon["id"])
