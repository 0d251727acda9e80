"""Stripe Tax, simulated: one fixed rate for every customer and product.

Real Stripe Tax looks up the rate for the customer's address and the product's tax code. The
simulator charges a flat 10% (`RATE`, exclusive: added on top of the prices), a plausible sales
tax, on every line of an invoice whose subscription has `automatic_tax[enabled]`, after its
discounts, prorations (credits too) included, as Stripe taxes them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

RATE = Decimal("0.10")
TAX_RATE_ID = "txr_simulated_10_percent"
# What the hosted Checkout page's address form sends: the simulator's one customer address.
TEST_ADDRESS = {
    "city": "San Francisco",
    "country": "US",
    "line1": "510 Townsend St",
    "line2": None,
    "postal_code": "94103",
    "state": "CA",
}


def automatic_tax(enabled: bool, kind: str) -> dict[str, Any]:
    """The `automatic_tax` hash of a subscription, a checkout.session or an invoice."""
    found: dict[str, Any] = {"enabled": enabled, "liability": {"type": "self"} if enabled else None}
    if kind != "subscription":  # the session's and the invoice's say who computed it, and how
        found.update(provider="stripe" if enabled else None, status=None)
    if kind != "checkout.session":
        found["disabled_reason"] = None
    return found


def tax_on(amount: int) -> int:
    return int((Decimal(amount) * RATE).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def tax_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tax each line (its `taxes`) and give the invoice's `total_taxes`: one entry, the sum."""
    for line in lines:
        taxable = line["amount"] - sum(d["amount"] for d in line["discount_amounts"])
        line["taxes"] = [_tax(tax_on(taxable), taxable)]
    taxable = sum(line["taxes"][0]["taxable_amount"] for line in lines)
    return [_tax(sum(line["taxes"][0]["amount"] for line in lines), taxable)]


def _tax(amount: int, taxable: int) -> dict[str, Any]:
    return {
        "amount": amount,
        "tax_behavior": "exclusive",
        "tax_rate_details": {"tax_rate": TAX_RATE_ID},
        "taxability_reason": "standard_rated",
        "taxable_amount": taxable,
        "type": "tax_rate_details",
    }
