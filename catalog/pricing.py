"""The pricing page's words and comparison, built from the catalog's data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from catalog.models import Plan
from catalog.operations import operations_of

SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$", "jpy": "¥"}


def money(amount: Decimal | int | float, currency: str) -> str:
    """ "$29", "$29.50", "€0.50", or "29 CHF" for a currency without a symbol here."""
    value = Decimal(amount)
    text = f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"
    symbol = SYMBOLS.get(currency.lower())
    return f"{symbol}{text}" if symbol else f"{text} {currency.upper()}"


def monthly_price(plan: Plan) -> str:
    return f"{money(plan.monthly_price, plan.currency)}/month"


def yearly_price(plan: Plan) -> str:
    if plan.yearly_price is None:
        return monthly_price(plan)
    return f"{money(plan.yearly_price, plan.currency)}/year"


def overage_price(plan: Plan) -> str | None:
    if plan.overage_price_per_1000 is None:
        return None
    return f"{money(plan.overage_price_per_1000, plan.currency)} per 1,000 calls"


def highlighted(plans: Sequence[Plan]) -> Plan | None:
    """The plan the page recommends: the cheapest paid plan with a free trial, else the
    cheapest paid plan (a catalog has no "featured" flag; this follows its own data)."""
    paid = sorted((p for p in plans if p.monthly_price > 0), key=lambda p: p.monthly_price)
    with_trial = [p for p in paid if p.trial_days]
    choices = with_trial or paid
    return choices[0] if choices else None


@dataclass(frozen=True)
class ComparisonRow:
    label: str
    cells: list[str]


def count(value: int | None, unit: str = "") -> str:
    return "Unlimited" if value is None else f"{value:,}{unit}"


def beyond_quota(plan: Plan) -> str:
    if plan.requests_per_period is None:
        return "No quota"
    return overage_price(plan) or "Refused until the next period"


def comparison(plans: Sequence[Plan]) -> list[ComparisonRow]:
    rows = [
        ComparisonRow("Price", [monthly_price(p) for p in plans]),
        ComparisonRow("Calls per billing period", [count(p.requests_per_period) for p in plans]),
        ComparisonRow("Calls per second", [count(p.requests_per_second) for p in plans]),
        ComparisonRow("Calls per minute", [count(p.requests_per_minute) for p in plans]),
        ComparisonRow("Beyond the quota", [beyond_quota(p) for p in plans]),
        ComparisonRow("Live keys", [f"{p.max_live_keys:,}" for p in plans]),
        ComparisonRow(
            "Free trial", [f"{p.trial_days} days" if p.trial_days else "No" for p in plans]
        ),
    ]
    products = {product.pk: product for plan in plans for product in plan.products.all()}
    for product in sorted(products.values(), key=lambda product: product.name):
        included = [
            "Included" if any(x.pk == product.pk for x in p.products.all()) else "No" for p in plans
        ]
        rows.append(ComparisonRow(product.name, included))
    names = sorted({name for plan in plans for name in plan.features})
    for name in names:
        rows.append(ComparisonRow(feature_label(name), [feature_cell(p, name) for p in plans]))
    return rows


def feature_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def feature_cell(plan: Plan, name: str) -> str:
    value = plan.features.get(name)
    if value is None or value is False:
        return "No"
    return "Yes" if value is True else f"{value:,}"


@dataclass(frozen=True)
class WeightedOperation:
    product: str
    operation: str  # "POST /demo/reports": the full path, as clients call it
    cost: int
    limits: str  # "10 calls per minute", or ""


def weighted_operations(plans: Sequence[Plan]) -> list[WeightedOperation]:
    """The operations of the plans' products that cost more than one unit or have limits of
    their own, for the pricing page."""
    products = {product.pk: product for plan in plans for product in plan.products.all()}
    rows = []
    for product in sorted(products.values(), key=lambda product: product.name):
        for op in operations_of(product.operations):
            limits = [
                f"{count(value)} calls per {unit}"
                for value, unit in ((op.requests_per_second, "second"),
                                    (op.requests_per_minute, "minute"))
                if value is not None
            ]  # fmt: skip
            path = product.path_prefix.rstrip("/") + (op.path if op.path != "/" else "/")
            rows.append(
                WeightedOperation(product.name, f"{op.method} {path}", op.cost, ", ".join(limits))
            )
    return rows
