"""The billing page tells the truth: statuses in words, Free as a plan to move to, and one
message when a downgrade and a cancellation would both be pending."""

from __future__ import annotations

from datetime import timedelta

import requests

from billing import flows, gateway
from billing.models import Subscription
from tests.billing.conftest import run_and_deliver, subscribe


def page(client, team) -> str:
    return client.get(f"/a/{team.slug}/billing/").content.decode()


def test_a_trial_says_until_when(client, plans, team, alice, sim):
    plans["pro"].trial_days = 14
    plans["pro"].save(update_fields=["trial_days"])
    sub_id = subscribe(sim, client, team, plans["pro"], alice)
    client.force_login(alice)
    end = Subscription.objects.get(stripe_id=sub_id).current_period_end
    html = page(client, team)
    assert f'id="subscription-status">Free trial until {end:%-d %b}<' in html
    assert "<td>0.00 USD</td><td>Paid</td>" in html  # the trial's invoice, not a charge


def test_a_failed_payment_says_what_to_do_by_when(client, plans, team, alice, sim, settings):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    sim.control(f"subscriptions/{sub_id}/fail_next_payment")
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    sub = Subscription.objects.get(stripe_id=sub_id)
    deadline = sub.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)
    client.force_login(alice)
    html = page(client, team)
    assert f"Payment failed: update your card by {deadline:%-d %b}" in html
    assert "<td>Due</td>" in html


def test_free_is_offered_and_moving_to_it_ends_the_subscription_at_the_period_end(
    client, plans, team, alice, sim
):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    client.force_login(alice)
    assert '<option value="free">Free (at the end of this period)</option>' in page(client, team)
    run_and_deliver(sim, client, lambda: client.post(
        f"/a/{team.slug}/billing/plan/", {"plan": "free"}))  # fmt: skip
    assert gateway.retrieve_subscription(sub_id)["cancel_at_period_end"] is True
    html = page(client, team)
    assert "you then move to Free" in html and 'value="free"' not in html


def test_a_cancellation_replaces_a_planned_downgrade(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["pro"], alice)
    client.force_login(alice)
    run_and_deliver(sim, client, lambda: client.post(
        f"/a/{team.slug}/billing/plan/", {"plan": "starter"}))  # fmt: skip
    assert "Moving to Starter on" in page(client, team)
    run_and_deliver(sim, client, lambda: client.post(f"/a/{team.slug}/billing/cancel/"))
    html = page(client, team)
    assert "Your subscription ends on" in html and "Moving to Starter" not in html
    assert gateway.retrieve_subscription(sub_id)["schedule"] is None
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    team.refresh_from_db()
    assert team.effective_plan() == plans["free"]


def test_the_card_on_file_shows_and_the_customer_portal_updates_it(client, plans, team, alice, sim):
    """The portal's update recovers a failed payment with the new card."""
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    client.force_login(alice)
    assert 'id="card-on-file">Visa ending in 4242, expires 12/' in page(client, team)
    sim.control(f"subscriptions/{sub_id}/fail_next_payment")
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    portal = flows.open_portal(team, "http://t/back")
    assert "Visa ending in 4242" in requests.get(portal, timeout=5).text
    declined = requests.post(portal, data={"action": "card", "card": "4000 0000 0000 0002"},
                             timeout=5, allow_redirects=False)  # fmt: skip
    assert "Your card was declined." in declined.text
    run_and_deliver(sim, client, lambda: requests.post(
        portal, data={"action": "card", "card": "5555 5555 5555 4444"}, timeout=5))  # fmt: skip
    assert Subscription.objects.get(stripe_id=sub_id).status == "active"
    assert 'id="card-on-file">Mastercard ending in 4444' in page(client, team)
