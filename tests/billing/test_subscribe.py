from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.core import mail
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.signals import account_policy_changed
from billing import flows, gateway
from billing.models import Subscription
from billing.standing import standing_for
from tests.billing.conftest import run_and_deliver, subscribe


def test_it_activates_the_plan_from_stripes_data(client, plans, team, alice, sim):
    heard = []
    account_policy_changed.connect(
        lambda **kw: heard.append(kw["account_id"]), weak=False, dispatch_uid="t1"
    )
    try:
        sub_id = subscribe(sim, client, team, plans["starter"], alice)
    finally:
        account_policy_changed.disconnect(dispatch_uid="t1")
    team.refresh_from_db()
    assert team.effective_plan() == plans["starter"]
    assert team.id in heard
    sub = Subscription.objects.get(stripe_id=sub_id)
    standing = standing_for(team)
    assert (standing.period_start, standing.period_end) == (
        sub.current_period_start,
        sub.current_period_end,
    )
    assert standing.payment_required is False
    assert [m.subject for m in mail.outbox] == ["Your Tollgate plan Starter is active"]
    assert (
        AuditEvent.objects.filter(account=team, action="billing.subscription_started").count() == 1
    )


def test_it_reuses_one_customer_per_account(client, plans, team, alice, sim):
    first = flows.ensure_customer(team, alice.email)
    flows.start_checkout(team, plans["pro"], alice, "http://t/s", "http://t/c")
    assert flows.ensure_customer(team, alice.email) == first
    assert team.billing_customer.stripe_id == first.stripe_id


def test_it_refuses_a_declined_card_and_changes_nothing(client, plans, team, alice, sim):
    url = flows.start_checkout(team, plans["starter"], alice, "http://t/s", "http://t/c")
    response = requests.post(
        f"{sim.url}/_sim/checkout/{url.rsplit('/', 1)[1]}/pay",
        data={"card": "4000000000000002"},
        timeout=5,
    )
    assert response.status_code == 402
    assert response.json()["error"]["code"] == "card_declined"
    team.refresh_from_db()
    assert team.plan is None and not Subscription.objects.exists()


def test_it_starts_a_trial_when_the_plan_has_trial_days(client, plans, team, alice, sim):
    plans["pro"].trial_days = 14
    plans["pro"].save()
    sub_id = subscribe(sim, client, team, plans["pro"], alice)
    sub = Subscription.objects.get(stripe_id=sub_id)
    assert sub.status == "trialing"
    assert sub.current_period_end - sub.current_period_start == timedelta(days=14)
    team.refresh_from_db()
    assert team.plan == plans["pro"]


def test_it_upgrades_with_proration_without_resetting_the_period(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    before = standing_for(team)
    run_and_deliver(
        sim,
        client,
        lambda: flows.change_plan(team, plans["pro"], alice, downgrade_at_period_end=True),
    )
    team.refresh_from_db()
    assert team.plan == plans["pro"]
    assert standing_for(team).period_start == before.period_start
    assert Subscription.objects.get(stripe_id=sub_id).plan == plans["pro"]

    # Stripe's prorations wait for the next invoice: the old price's unused time is credited
    # and the new price's remaining time charged (of the 10.00 and 50.00 monthly prices).
    customer = team.billing_customer.stripe_id
    left = (before.period_end - timezone.now()) / (before.period_end - before.period_start)
    prorations = proration_lines(gateway.preview_invoice(customer, sub_id))
    amounts = [line["amount"] for line in prorations]
    assert amounts == pytest.approx([-1000 * left, 5000 * left], abs=2)
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    [renewal] = [
        invoice
        for invoice in gateway.list_invoices(customer)
        if invoice["billing_reason"] == "subscription_cycle"
    ]
    assert [line["amount"] for line in proration_lines(renewal)] == amounts
    assert renewal["amount_due"] == 5000 + sum(amounts)
    assert proration_lines(gateway.preview_invoice(customer, sub_id)) == []  # invoiced once
    assert team.invoices.get(stripe_id=renewal["id"]).amount_due == renewal["amount_due"]


def proration_lines(invoice: dict) -> list[dict]:
    return [
        line
        for line in invoice["lines"]["data"]
        if (line["parent"]["subscription_item_details"] or {}).get("proration")
    ]


def test_it_downgrades_at_the_period_end(client, plans, team, alice, sim):
    """Through a subscription schedule: the renewal invoice is at the new price (before, the
    switch was sent after the renewal, which Stripe had already invoiced at the old one)."""
    sub_id = subscribe(sim, client, team, plans["pro"], alice)
    run_and_deliver(sim, client, lambda: flows.change_plan(
        team, plans["starter"], alice, downgrade_at_period_end=True))  # fmt: skip
    team.refresh_from_db()
    assert team.plan == plans["pro"]
    assert Subscription.objects.get(stripe_id=sub_id).scheduled_plan == plans["starter"]
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    team.refresh_from_db()
    assert team.plan == plans["starter"]
    assert Subscription.objects.get(stripe_id=sub_id).scheduled_plan is None
    [renewal] = [
        invoice
        for invoice in gateway.list_invoices(team.billing_customer.stripe_id)
        if invoice["billing_reason"] == "subscription_cycle"
    ]
    licensed = [line for line in renewal["lines"]["data"] if line["quantity"] == 1]
    assert [line["description"] for line in licensed] == ["1 x Starter"]
    assert renewal["amount_due"] == 1000


def test_it_cancels_in_the_period_after_a_downgrade(client, plans, team, alice, sim):
    """After the switch, the schedule still manages the subscription (its last phase), which
    Stripe says forbids changing the subscription's end: cancelling releases it first."""
    sub_id = subscribe(sim, client, team, plans["pro"], alice)
    run_and_deliver(sim, client, lambda: flows.change_plan(
        team, plans["starter"], alice, downgrade_at_period_end=True))  # fmt: skip
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    assert Subscription.objects.get(stripe_id=sub_id).scheduled_plan is None
    assert gateway.retrieve_subscription(sub_id)["schedule"]  # the switch's phase runs on
    run_and_deliver(sim, client, lambda: flows.set_cancel_at_period_end(team, alice, cancel=True))
    data = gateway.retrieve_subscription(sub_id)
    assert data["cancel_at_period_end"] is True and data["schedule"] is None
    assert Subscription.objects.get(stripe_id=sub_id).cancel_at_period_end is True
    team.refresh_from_db()
    assert team.plan == plans["starter"]


def test_an_upgrade_replaces_a_planned_downgrade(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["pro"], alice)
    flows.change_plan(team, plans["starter"], alice, downgrade_at_period_end=True)
    assert gateway.retrieve_subscription(sub_id)["schedule"]
    run_and_deliver(sim, client, lambda: flows.change_plan(
        team, plans["pro"], alice, downgrade_at_period_end=True))  # fmt: skip
    assert gateway.retrieve_subscription(sub_id)["schedule"] is None
    assert Subscription.objects.get(stripe_id=sub_id).scheduled_plan is None
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    team.refresh_from_db()
    assert team.plan == plans["pro"]


def test_it_downgrades_at_once_when_the_setting_is_off(client, plans, team, alice, sim):
    subscribe(sim, client, team, plans["pro"], alice)
    run_and_deliver(
        sim,
        client,
        lambda: flows.change_plan(team, plans["starter"], alice, downgrade_at_period_end=False),
    )
    team.refresh_from_db()
    assert team.plan == plans["starter"]


def test_it_cancels_at_the_period_end_and_falls_back_to_the_default_plan(
    client, plans, team, alice, sim
):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    run_and_deliver(sim, client, lambda: flows.set_cancel_at_period_end(team, alice, cancel=True))
    assert Subscription.objects.get(stripe_id=sub_id).cancel_at_period_end is True
    team.refresh_from_db()
    assert team.plan == plans["starter"]
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    team.refresh_from_db()
    assert team.plan is None and team.effective_plan() == plans["free"]
    assert "Your Tollgate subscription has ended" in [m.subject for m in mail.outbox]
