from __future__ import annotations

from datetime import timedelta

from django.core import mail

from billing.models import Subscription
from billing.standing import standing_for
from tests.billing.conftest import run_and_deliver, subscribe


def test_it_goes_past_due_then_requires_payment_after_the_grace_then_recovers(
    client, plans, team, alice, sim, settings
):
    settings.BILLING_GRACE_DAYS = 3
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    sim.control(f"subscriptions/{sub_id}/fail_next_payment")
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    sub = Subscription.objects.get(stripe_id=sub_id)
    assert sub.status == "past_due"
    assert sub.past_due_since == sub.current_period_start
    assert standing_for(team, now=sub.past_due_since + timedelta(days=2)).payment_required is False
    assert standing_for(team, now=sub.past_due_since + timedelta(days=3)).payment_required is True
    assert "Payment failed for Alice's team" in [m.subject for m in mail.outbox]
    team.refresh_from_db()
    assert team.plan == plans["starter"]  # within the grace the plan still applies

    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/pay"))
    sub.refresh_from_db()
    assert sub.status == "active" and sub.past_due_since is None
    assert (
        standing_for(team, now=sub.current_period_start + timedelta(days=10)).payment_required
        is False
    )
    assert "Payment received for Alice's team" in [m.subject for m in mail.outbox]
    assert len(mail.outbox) == len({(m.subject, tuple(m.to)) for m in mail.outbox})


def test_it_uses_the_calendar_month_without_a_subscription(team, db):
    standing = standing_for(team)
    assert standing.period_start.day == 1 and standing.payment_required is False
