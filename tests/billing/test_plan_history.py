"""Each change of an account's plan or MRR is written once where it happens (Stripe's state
applied by webhooks and reconcile, comps), and the migration seeds today's state only."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from billing import flows
from billing.models import PlanChange
from tests.billing.conftest import deliver, run_and_deliver, subscribe


def history(account) -> list[tuple[str, str | None, Decimal, Decimal, str]]:
    return [
        (c.kind, c.plan.slug if c.plan else None, c.previous_mrr, c.mrr, c.source)
        for c in PlanChange.objects.filter(account=account).order_by("at", "id")
    ]


def test_subscribe_upgrade_comp_and_cancel_are_each_recorded_once(client, plans, team, alice, sim):
    start = len(sim.events())
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    deliver(client, sim.events()[start:])  # every webhook again: Stripe retries, duplicates
    run_and_deliver(
        sim, client,
        lambda: flows.change_plan(team, plans["pro"], alice, downgrade_at_period_end=True),
    )  # fmt: skip
    flows.reconcile()  # nothing drifted: nothing written
    call_command("set_plan", account=team.slug, plan="starter", reason="partner deal",
                 by="ops", stdout=StringIO())  # fmt: skip
    call_command("set_plan", account=team.slug, end=True, by="ops", stdout=StringIO())
    run_and_deliver(sim, client, lambda: flows.cancel_now(team))
    flows.reconcile()
    assert history(team) == [
        ("new", "starter", Decimal("0.00"), Decimal("10.00"), "stripe"),
        ("expansion", "pro", Decimal("10.00"), Decimal("50.00"), "stripe"),
        ("plan_only", "starter", Decimal("50.00"), Decimal("50.00"), "comp"),  # Stripe bills Pro
        ("plan_only", "pro", Decimal("50.00"), Decimal("50.00"), "comp"),
        ("churn", None, Decimal("50.00"), Decimal("0.00"), "stripe"),
    ]
    assert PlanChange.objects.filter(reference=sub_id).count() == 3


def test_a_yearly_subscription_counts_a_twelfth_of_its_price(client, plans, team, alice, sim):
    from billing.catalog_sync import sync_catalog

    plans["pro"].yearly_price = Decimal("480.00")
    plans["pro"].save()
    sync_catalog()
    plans["pro"].refresh_from_db()
    subscribe(sim, client, team, plans["pro"], alice, interval="year")
    assert history(team) == [("new", "pro", Decimal("0.00"), Decimal("40.00"), "stripe")]


def test_a_downgrade_is_a_contraction(client, plans, team, alice, sim, settings):
    settings.BILLING_DOWNGRADE_AT_PERIOD_END = False
    subscribe(sim, client, team, plans["pro"], alice)
    run_and_deliver(
        sim, client,
        lambda: flows.change_plan(team, plans["starter"], alice, downgrade_at_period_end=False),
    )  # fmt: skip
    assert [row[0] for row in history(team)] == ["new", "contraction"]


BEFORE = [("billing", "0003_invoice_tax_and_discount")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_seeds_todays_state_without_inventing_history(team, user_factory):
    from accounts.models import Account

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        executor.loader.build_graph()
        applied = [key for key in executor.loader.applied_migrations if key[0] != "billing"]
        old = executor.loader.project_state([*BEFORE, *applied]).apps
        Plan = old.get_model("catalog", "Plan")
        Subscription = old.get_model("billing", "Subscription")
        OldAccount = old.get_model("accounts", "Account")
        pro = Plan.objects.create(
            slug="pro", name="Pro", monthly_price=Decimal(29), yearly_price=Decimal(290)
        )
        gift = Plan.objects.create(slug="gift", name="Gift", monthly_price=Decimal(99))
        t0 = datetime(2025, 3, 1, tzinfo=UTC)

        def sub(account_id, status, days=30, plan=pro):
            Subscription.objects.create(
                stripe_id=f"sub_{account_id}_{status}", account_id=account_id, plan=plan,
                status=status, started_at=t0, current_period_start=t0,
                current_period_end=t0 + timedelta(days=days),
            )  # fmt: skip

        monthly, yearly, trial, ended, comped, _free = (
            OldAccount.objects.create(name=n, slug=n).id
            for n in ("monthly", "yearly", "trial", "ended", "comped", "free")
        )
        sub(monthly, "active")
        sub(yearly, "active", days=365)
        sub(trial, "trialing")
        sub(ended, "canceled")
        old.get_model("catalog", "Comp").objects.create(
            account_id=comped, plan=gift, granted_by="ops", reason="partner"
        )
        OldAccount.objects.filter(pk=comped).update(plan=gift)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    seeded = {
        Account.objects.get(pk=c.account_id).slug: (c.kind, c.plan.slug if c.plan else None, c.mrr)
        for c in PlanChange.objects.all()
    }
    assert seeded == {
        "monthly": ("opening", "pro", Decimal("29.00")),
        "yearly": ("opening", "pro", Decimal("24.17")),  # 290 / 12
        "trial": ("opening", "pro", Decimal("0.00")),
        "comped": ("opening", "gift", Decimal("0.00")),
    }  # neither the ended subscription nor the free account gets a row
    assert PlanChange.objects.exclude(previous_mrr=0).count() == 0


def test_staff_read_the_history_in_the_admin_and_cannot_edit_it(client, user_factory, team):
    from billing import revenue
    from billing.models import Subscription
    from catalog.models import Plan

    pro = Plan.objects.create(slug="pro", name="Pro", monthly_price=Decimal(29))
    Subscription.objects.create(
        stripe_id="sub_1", account=team, plan=pro, status="active", started_at=datetime.now(UTC)
    )
    change = revenue.record(team, "stripe", "sub_1")
    assert revenue.record(team, "stripe", "sub_1") is None  # nothing changed since
    client.force_login(user_factory(is_staff=True, is_superuser=True))
    page = client.get("/admin/billing/planchange/")
    assert page.status_code == 200 and team.name in html.unescape(page.content.decode())
    assert client.get("/admin/billing/planchange/add/").status_code == 403
    assert client.post(f"/admin/billing/planchange/{change.pk}/delete/").status_code == 403
