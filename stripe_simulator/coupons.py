"""Coupons, promotion codes, and the discounts they give subscriptions and their invoices."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from stripe_simulator.errors import StripeError, invalid
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, add_month, now

CODE = re.compile(r"[A-Za-z0-9-]+")  # PromotionCodeCreateParams.code's valid characters


def create_coupon(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    if ("percent_off" in p) == ("amount_off" in p):
        raise invalid("percent_off", "You must pass either amount_off or percent_off.")
    if "amount_off" in p and not p.get("currency"):
        raise invalid("currency", "You must pass currency when passing amount_off.")
    duration = p.get("duration", "once")
    if (duration == "repeating") != ("duration_in_months" in p):
        raise invalid(
            "duration_in_months",
            "duration_in_months must be given with duration=repeating, and only then.",
        )
    coupon_id = p.get("id") or new_id("")[1:9].upper()
    if store.find(coupon_id) is not None:
        raise StripeError(400, "Coupon already exists.", "resource_already_exists", "id")
    percent = float(p["percent_off"]) if "percent_off" in p else None
    if percent is not None and not 0 < percent <= 100:
        raise invalid("percent_off", "percent_off must be between 0 and 100.")
    return store.put(
        shape(
            "coupon",
            id=coupon_id,
            created=now(),
            name=p.get("name"),
            percent_off=percent,
            amount_off=int(p["amount_off"]) if "amount_off" in p else None,
            currency=p.get("currency") if "amount_off" in p else None,
            duration=duration,
            duration_in_months=int(p["duration_in_months"]) if "duration_in_months" in p else None,
            metadata=p.get("metadata", {}),
            redeem_by=None,
            times_redeemed=0,
            valid=True,
        )
    )


def create_promotion_code(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    promotion = p.get("promotion") or {}
    coupon = store.get("coupon", promotion.get("coupon", ""), "promotion[coupon]")
    code = p.get("code") or new_id("")[1:9].upper()
    if not CODE.fullmatch(code):
        raise invalid(
            "code",
            "Invalid code: a promotion code can only contain letters (a-z, A-Z), digits (0-9) "
            "and dashes (-).",
        )
    if find_code(store, code) is not None:
        raise StripeError(
            400,
            f"An active promotion code with `code: {code}` already exists.",
            "resource_already_exists",
            "code",
        )
    return store.put(
        shape(
            "promotion_code",
            id=new_id("promo"),
            code=code,
            created=now(),
            active=p.get("active", "true") != "false",
            expires_at=None,
            metadata=p.get("metadata", {}),
            promotion={"type": "coupon", "coupon": coupon["id"]},
        )
    )


def find_code(store: Store, code: str) -> dict[str, Any] | None:
    """The active promotion code spelled `code`, whatever the case (as Stripe matches it)."""
    return next(
        (
            x
            for x in store.all("promotion_code")
            if x["active"] and x["code"].upper() == code.upper()
        ),
        None,
    )


def update_promotion_code(store: Store, promo_id: str, p: dict[str, Any]) -> dict[str, Any]:
    promo = store.get("promotion_code", promo_id)
    if "active" in p:
        if p["active"] == "true" and not promo["active"] and find_code(store, promo["code"]):
            raise StripeError(
                400, "Another active promotion code has this code.", "resource_already_exists"
            )
        promo["active"] = p["active"] == "true"
    promo["metadata"].update(p.get("metadata") or {})
    return promo


def redeem(
    store: Store, code: str, customer: str, sub_id: str, session_id: str | None
) -> dict[str, Any]:
    """What Checkout does with the code a customer typed: a discount on the subscription."""
    promo = find_code(store, code)
    if promo is None:
        raise StripeError(400, "This code is invalid.", "promotion_code_invalid", "code")
    coupon = store.get("coupon", promo["promotion"]["coupon"])
    start = now()
    end = None
    if coupon["duration"] == "repeating":
        end = start
        for _ in range(coupon["duration_in_months"]):
            end = add_month(end)
    promo["times_redeemed"] += 1
    coupon["times_redeemed"] += 1
    return store.put(
        shape(
            "discount",
            id=new_id("di"),
            checkout_session=session_id,
            customer=customer,
            start=start,
            end=end,
            invoice=None,
            invoice_item=None,
            promotion_code=promo["id"],
            subscription=sub_id,
            subscription_item=None,
            source={"type": "coupon", "coupon": coupon["id"]},
        )
    )


def current(store: Store, sub: dict[str, Any], moment: int) -> list[dict[str, Any]]:
    """The subscription's discounts that apply to an invoice made at `moment`."""
    found = [store.get("discount", di) for di in sub.get("discounts") or []]
    return [d for d in found if d["end"] is None or d["end"] > moment]


def apply(
    store: Store, lines: list[dict[str, Any]], discounts: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Discount the discountable lines (not prorations), each line its share; the invoice's
    `total_discount_amounts`."""
    totals = []
    for discount in discounts:
        coupon = store.get("coupon", discount["source"]["coupon"])
        eligible = [line for line in lines if line["discountable"] and line["amount"] > 0]
        base = sum(line["amount"] - _taken(line) for line in eligible)
        if coupon["percent_off"] is not None:
            wanted = _round(Decimal(base) * Decimal(str(coupon["percent_off"])) / 100)
        else:
            wanted = min(coupon["amount_off"], base)
        left = wanted
        for index, line in enumerate(eligible):
            share = left if index == len(eligible) - 1 else _round(
                Decimal(wanted) * (line["amount"] - _taken(line)) / max(base, 1)
            )  # fmt: skip
            share = min(share, left)
            left -= share
            line["discount_amounts"].append({"amount": share, "discount": discount["id"]})
            line["discounts"].append(discount["id"])
        totals.append({"amount": wanted, "discount": discount["id"]})
    return totals


def _taken(line: dict[str, Any]) -> int:
    return sum(int(d["amount"]) for d in line["discount_amounts"])


def _round(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def used_once(store: Store, sub: dict[str, Any], invoice: dict[str, Any]) -> None:
    """A `once` coupon ends with the first invoice it discounted: Stripe removes it."""
    for given in invoice["total_discount_amounts"]:
        discount = store.get("discount", given["discount"])
        once = store.get("coupon", discount["source"]["coupon"])["duration"] == "once"
        if once and given["amount"] > 0 and discount["id"] in sub["discounts"]:
            sub["discounts"].remove(discount["id"])
