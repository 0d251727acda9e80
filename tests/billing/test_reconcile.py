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


@pytest.mark.django_db(transaction=True)
def test_the_nightly_task_fans_out_in_bounded_lanes_of_short_chunks(
    sim, plans, user_factory, settings, monkeypatch, redis_db
):
    from billing import tasks
    from billing.models import Customer

    events = play_lifecycles(sim, plans, user_factory)
    reset_local_state()
    deliver(Client(), events)
    expected = comparable(snapshot())
    reset_local_state()
    deliver(Client(), events[: len(events) // 2])  # half the deliveries were lost
    chunks: list[list[int]] = []
    reconcile = flows.reconcile

    def recorded(accounts):
        chunks.append(sorted(accounts))
        return reconcile(accounts=accounts)

    monkeypatch.setattr(flows, "reconcile", recorded)
    monkeypatch.setattr(tasks, "RECONCILE_CHUNK", 2)
    settings.BILLING_RECONCILE_CONCURRENCY = 3
    tasks.reconcile()  # eager here: every lane's chain runs to its end
    assert comparable(snapshot()) == expected
    every_account = sorted(Customer.objects.values_list("account_id", flat=True))
    assert sorted(a for chunk in chunks for a in chunk) == every_account  # each once
    assert len(every_account) > 3 * 2 and all(len(chunk) <= 2 for chunk in chunks)


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_chunk_changes_nothing_and_starts_no_second_chain(
    sim, plans, user_factory, monkeypatch, redis_db
):
    from billing import tasks

    deliver(Client(), play_lifecycles(sim, plans, user_factory))
    continued: list[int] = []
    monkeypatch.setattr(tasks, "RECONCILE_CHUNK", 2)
    monkeypatch.setattr(tasks.reconcile_lane, "delay", lambda *args: continued.append(args[-1]))
    first = tasks.reconcile_lane("run-1", 0, 1, 0)
    again = tasks.reconcile_lane("run-1", 0, 1, 0)  # the same message, delivered again
    assert (first, again) == (0, 0) and len(continued) == 1


def test_the_broker_never_redelivers_a_task_still_running_or_waiting(settings):
    from billing.tasks import retry_wait

    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert timeout > settings.CELERY_TASK_TIME_LIMIT
    assert timeout > max(retry_wait(n) for n in range(20)) == settings.TASK_RETRY_MAX_SECONDS
