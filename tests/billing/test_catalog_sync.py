from __future__ import annotations

from decimal import Decimal

from billing import gateway
from billing.catalog_sync import sync_catalog
from catalog.models import Plan
from catalog.signals import catalog_applied


def test_it_mirrors_paid_plans_to_products_prices_and_one_meter(plans, sim):
    starter, free = plans["starter"], plans["free"]
    assert starter.stripe_product_id == "tollgate_plan_starter"
    assert starter.stripe_price_id and starter.stripe_overage_price_id
    assert free.stripe_price_id == ""
    prices = gateway.prices_by_lookup_key(["tollgate_starter_monthly", "tollgate_starter_overage"])
    assert prices["tollgate_starter_monthly"]["unit_amount"] == 1000
    # Sent as Stripe accepts a decimal: "1000", not the exponent form "1E+3" (refused).
    assert str(prices["tollgate_starter_monthly"]["unit_amount_decimal"]) == "1000"
    assert prices["tollgate_starter_overage"]["recurring"]["usage_type"] == "metered"
    assert Decimal(prices["tollgate_starter_overage"]["unit_amount_decimal"]) == Decimal("0.05")
    assert len(gateway.list_meters()) == 1


def test_it_creates_nothing_when_applied_twice(plans, sim):
    result = sync_catalog()
    assert (result.created, result.updated) == (0, 0)
    assert len(gateway.list_meters()) == 1


def test_it_makes_a_new_price_when_the_amount_changes(plans, sim):
    old = plans["pro"].stripe_price_id
    Plan.objects.filter(pk=plans["pro"].pk).update(monthly_price=Decimal("60.00"))
    result = sync_catalog()
    pro = Plan.objects.get(slug="pro")
    assert pro.stripe_price_id != old and result.updated == 1
    assert (
        gateway.prices_by_lookup_key(["tollgate_pro_monthly"])["tollgate_pro_monthly"]["id"]
        == pro.stripe_price_id
    )


def test_it_syncs_when_the_catalog_is_applied(db, sim):
    plan = Plan.objects.create(slug="team", name="Team", monthly_price=Decimal("99"))
    catalog_applied.send(sender=None, plans=[plan], products=[])
    plan.refresh_from_db()
    assert plan.stripe_price_id
