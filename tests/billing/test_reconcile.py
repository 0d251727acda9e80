from __future__ import annotations

import random

import pytest
from django.core.management import call_command
from django.test import Client

from billing import flows
from billing.models import Subscription
from tests.billing.conftest import deliver
from tests.billing.test_convergence import play_lifecycles, reset_local_state, snapshot


def comparable(state: dict) -> dict:
    # The Checkout session id comes only from checkout.session.completed; Stripe's subscription
    # does not carry it, so reconcile cannot restore it (it only drives the success page).
    return {**state, "subs": [sub[:-1] for sub in state["subs"]], "events": None}


@pytest.mark.django_db(transaction=True)
def test_it_repairs_dropped_deliveries_in_one_run_and_changes_nothing_on_the_second(
    sim, plans, user_factory
):
    events = play_lifecycles(sim, plans, user_factory)
    deliver(Client(), events)
    # An outage: these renewals' webhooks are all lost.
    for sub in Subscription.objects.live()[:3]:
        sim.control(f"subscriptions/{sub.stripe_id}/advance")
    all_events = sim.events()
    reset_local_state()
    deliver(Client(), all_events)
    expected = comparable(snapshot())

    reset_local_state()
    rng = random.Random(7)
    deliver(Client(), [event for event in events if rng.random() >= 0.10])
    assert comparable(snapshot()) != expected

    assert flows.reconcile() > 0
    assert comparable(snapshot()) == expected
    assert flows.reconcile() == 0


def test_it_runs_as_a_management_command(db, sim, capsys):
    call_command("reconcile_stripe")
    assert "reconcile_stripe: 0 change(s)" in capsys.readouterr().out
