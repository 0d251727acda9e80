"""The "access suspended" email: once per past-due episode, when the grace period runs out."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection

from accounts.models import AuditEvent
from accounts.signals import account_policy_changed
from billing import flows, gateway, tasks
from billing.models import Notice, Subscription
from tests.billing.conftest import run_and_deliver, subscribe

SUSPENDED = "API access suspended for Alice's team"


def fail_renewal(sim, client, sub_id: str) -> Subscription:
    sim.control(f"subscriptions/{sub_id}/fail_next_payment")
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    sub = Subscription.objects.get(stripe_id=sub_id)
    assert sub.status == "past_due"
    return sub


@pytest.fixture
def announce(django_capture_on_commit_callbacks):
    def run(now) -> int:
        # The emails and the gateways' invalidation go after commit.
        with django_capture_on_commit_callbacks(execute=True):
            return flows.announce_suspensions(now=now)

    return run


def test_it_emails_once_when_the_grace_runs_out_and_again_for_a_new_episode(
    client, plans, team, alice, sim, settings, announce
):
    settings.BILLING_GRACE_DAYS = 3
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    sub = fail_renewal(sim, client, sub_id)
    mail.outbox.clear()

    assert announce(sub.past_due_since + timedelta(hours=71)) == 0
    heard = []
    account_policy_changed.connect(
        lambda **kw: heard.append(kw["account_id"]), weak=False, dispatch_uid="suspended"
    )
    try:
        ended = sub.past_due_since + timedelta(days=3)
        assert announce(ended) == 1
    finally:
        account_policy_changed.disconnect(dispatch_uid="suspended")
    assert heard == [team.pk]  # the gateways reload the policy now, not after their TTL
    [email] = mail.outbox
    assert email.subject == SUSPENDED and email.to == ["alice@example.com"]
    invoice = team.invoices.get(status="open")
    assert invoice.hosted_invoice_url in email.body and "10.00 USD" in email.body
    assert "402 Payment Required" in email.body and "3 days" in email.body
    assert invoice.hosted_invoice_url in email.alternatives[0][0]

    # Every later run, and a replay of every event, finds the episode announced.
    assert announce(ended + timedelta(days=1)) == 0
    run_and_deliver(sim, client, lambda: None)
    assert flows.reconcile() == 0
    assert [m.subject for m in mail.outbox] == [SUSPENDED]
    assert AuditEvent.objects.filter(account=team, action="billing.access_suspended").count() == 1

    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/pay"))
    assert announce(ended + timedelta(days=2)) == 0
    next_episode = fail_renewal(sim, client, sub_id)
    assert next_episode.past_due_since > sub.past_due_since
    later = next_episode.past_due_since + timedelta(days=3)
    assert announce(later) == 1
    assert [m.subject for m in mail.outbox].count(SUSPENDED) == 2


def test_it_announces_nothing_when_paid_within_the_grace(client, plans, team, alice, sim, announce):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    sub = fail_renewal(sim, client, sub_id)
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/pay"))
    assert announce(sub.past_due_since + timedelta(days=30)) == 0
    assert SUSPENDED not in [m.subject for m in mail.outbox]
    assert not Notice.objects.filter(key__startswith="subscription.suspended:").exists()


def test_it_announces_at_once_when_the_events_arrive_after_the_grace(
    client, plans, team, alice, sim, settings
):
    settings.BILLING_GRACE_DAYS = 3
    sub_id = subscribe(sim, client, team, plans["starter"], alice)

    def renewal_failed_four_days_ago() -> None:
        sim.control(f"subscriptions/{sub_id}/fail_next_payment")
        sim.control(f"subscriptions/{sub_id}/advance")
        start = gateway.retrieve_subscription(sub_id)["items"]["data"][0]["current_period_start"]
        seconds = start - (int(time.time()) - 4 * 86400)
        sim.control(f"subscriptions/{sub_id}/backdate", seconds=seconds)

    # The webhooks of a renewal that failed four days ago are only now delivered.
    run_and_deliver(sim, client, renewal_failed_four_days_ago)
    assert [m.subject for m in mail.outbox].count(SUSPENDED) == 1
    invoice = team.invoices.get(status="open")
    assert invoice.hosted_invoice_url in mail.outbox[-1].body
    assert tasks.announce_suspensions() == 0


@pytest.mark.django_db(transaction=True)
def test_it_sends_one_email_from_concurrent_runs(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    sub = fail_renewal(sim, client, sub_id)
    mail.outbox.clear()
    ended = sub.past_due_since + timedelta(days=3)
    results: list[int] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        barrier.wait()
        try:
            results.append(flows.announce_suspensions(now=ended))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 0, 1]
    assert [m.subject for m in mail.outbox] == [SUSPENDED]
