"""A comp given with set_plan survives the nightly reconcile and Stripe's events, until it ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from billing import flows
from catalog.models import Comp
from tests.billing.conftest import run_and_deliver, subscribe


def comp(team, plan, **options):
    call_command("set_plan", account=team.slug, plan=plan.slug, reason="partner",
                 by="ops@example.com", stdout=StringIO(), **options)  # fmt: skip


def test_a_comp_survives_reconcile_and_events_then_ends(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    comp(team, plans["pro"])
    flows.reconcile()  # before comps, this put the account back on Starter
    team.refresh_from_db()
    assert team.plan == plans["pro"]
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    team.refresh_from_db()
    assert team.plan == plans["pro"]
    Comp.objects.update(until=timezone.now() - timedelta(seconds=1))
    assert flows.end_expired_comps() == 1
    team.refresh_from_db()
    assert team.plan == plans["starter"]  # back to what the subscription pays for
    assert flows.end_expired_comps() == 0
    assert team.audit_events.filter(action="plan.comp_ended").count() == 1


def test_an_expired_comp_no_longer_wins(client, plans, team, alice, sim):
    subscribe(sim, client, team, plans["starter"], alice)
    comp(team, plans["pro"])
    Comp.objects.update(until=timezone.now() - timedelta(seconds=1))
    flows.reconcile()
    team.refresh_from_db()
    assert team.plan == plans["starter"]


@pytest.mark.django_db(transaction=True)
def test_the_migration_records_plans_given_with_set_plan_before(team, user_factory):
    from accounts.models import Account

    before = [("catalog", "0001_initial")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        executor.loader.build_graph()
        applied = [key for key in executor.loader.applied_migrations if key[0] != "catalog"]
        old = executor.loader.project_state([*before, *applied]).apps
        Plan = old.get_model("catalog", "Plan")
        pro = Plan.objects.create(slug="pro", name="Pro", requests_per_period=10)
        starter = Plan.objects.create(slug="starter", name="Starter", requests_per_period=5)
        AuditEvent = old.get_model("accounts", "AuditEvent")
        OldAccount = old.get_model("accounts", "Account")
        paying = Account.objects.create_with_owner("Paying", user_factory())
        OldAccount.objects.filter(pk__in=[team.pk, paying.pk]).update(plan=pro)
        event = AuditEvent.objects.create(
            account_id=team.pk, action="plan.set", target="pro", data={"by": "set_plan"}
        )
        AuditEvent.objects.filter(pk=event.pk).update(created_at=datetime(2026, 10, 1, tzinfo=UTC))
        # An account set with set_plan, then subscribed: its plan is paid for, not comped.
        AuditEvent.objects.create(account_id=paying.pk, action="plan.set", target="starter")
        old.get_model("billing", "Subscription").objects.create(
            stripe_id="sub_1", account_id=paying.pk, plan=starter, status="active",
            started_at=datetime(2026, 10, 1, tzinfo=UTC),
        )  # fmt: skip
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    [recorded] = Comp.objects.all()
    assert (recorded.account_id, recorded.plan.slug, recorded.granted_by) == (
        team.pk,
        "pro",
        "set_plan",
    )
    assert recorded.created_at == datetime(2026, 10, 1, tzinfo=UTC) and recorded.until is None
