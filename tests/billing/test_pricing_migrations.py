"""The pricing migrations (yearly prices, coupons, invoice tax and discount) keep the previous
release's plans and invoices as they were: sold monthly, with no tax and no discount."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("catalog", "0002_comps"), ("billing", "0002_meter_error_reports")]
AFTER = [("catalog", "0004_coupons"), ("billing", "0003_invoice_tax_and_discount")]


@pytest.mark.django_db(transaction=True)
def test_plans_and_invoices_of_the_previous_release_are_kept(team):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old_apps = executor.loader.project_state(BEFORE).apps
        OldPlan = old_apps.get_model("catalog", "Plan")
        OldPlan.objects.create(
            slug="pro", name="Pro", monthly_price=Decimal("29.00"),
            overage_price_per_1000=Decimal("0.50"), stripe_price_id="price_old",
        )  # fmt: skip
        old_apps.get_model("billing", "Invoice").objects.create(
            stripe_id="in_old", account_id=team.id, status="paid", currency="usd",
            amount_due=2900, amount_paid=2900, created=datetime(2026, 11, 1, tzinfo=UTC),
        )  # fmt: skip
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())  # every app back to its latest
    new_apps = executor.loader.project_state(AFTER).apps
    plan = new_apps.get_model("catalog", "Plan").objects.get(slug="pro")
    assert (plan.monthly_price, plan.stripe_price_id) == (Decimal("29.00"), "price_old")
    assert (plan.yearly_price, plan.stripe_yearly_price_id) == (None, "")
    invoice = new_apps.get_model("billing", "Invoice").objects.get(stripe_id="in_old")
    assert (invoice.amount_due, invoice.tax, invoice.discount) == (2900, 0, 0)
    assert not new_apps.get_model("catalog", "Coupon").objects.exists()
