"""The credit migrations keep the previous release's plans as they were: sold by subscription
only (no pass), and no credits or passes for anyone."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("catalog", "0004_coupons"), ("webhooks", "0001_initial")]
AFTER = [
    ("catalog", "0006_credit_packs_and_time_passes"),
    ("credits", "0001_initial"),
    ("webhooks", "0002_credit_event_types"),
]


@pytest.mark.django_db(transaction=True)
def test_plans_and_webhook_events_of_the_previous_release_are_kept(team):
    executor = MigrationExecutor(connection)
    executor.migrate([*BEFORE, ("credits", None)])  # credits needs catalog's 0006
    try:
        old_apps = executor.loader.project_state(BEFORE).apps
        old_apps.get_model("catalog", "Plan").objects.create(
            slug="pro",
            name="Pro",
            monthly_price=Decimal("29.00"),
            stripe_price_id="price_old",
            requests_per_period=1000,
        )
        old_apps.get_model("webhooks", "Event").objects.create(
            account_id=team.id, type="quota.exhausted", occurrence="old", data={"used": 5}
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    new_apps = executor.loader.project_state(AFTER).apps
    plan = new_apps.get_model("catalog", "Plan").objects.get(slug="pro")
    assert (plan.monthly_price, plan.stripe_price_id, plan.requests_per_period) == (
        Decimal("29.00"),
        "price_old",
        1000,
    )
    assert (plan.pass_days, plan.pass_price, plan.stripe_pass_price_id) == (None, None, "")
    assert not new_apps.get_model("catalog", "CreditPack").objects.exists()
    assert not new_apps.get_model("credits", "CreditWallet").objects.exists()
    event = new_apps.get_model("webhooks", "Event").objects.get(occurrence="old")
    assert (event.type, event.data) == ("quota.exhausted", {"used": 5})
