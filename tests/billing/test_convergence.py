"""Webhook convergence: any order, any duplication, 8 concurrent senders, crashing handlers.

20 subscription lifecycles are played on the simulator first (webhooks recorded, not sent).
Then, per seed, every event is delivered 3 times in random order by 8 threads, each with its
own Django test client, through the real signature check; the apply step runs synchronously
(eager Celery). Every run must end in the state of an in-order delivery, with every email and
audit event exactly once.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections import Counter

import pytest
from celery._state import _set_task_join_will_block  # type: ignore[attr-defined]
from django.core import mail
from django.test import Client

from accounts.models import Account, AuditEvent
from billing import flows, gateway
from billing.models import Invoice, Notice, StripeEvent, Subscription
from portal.celery import app as celery_app
from tests.billing.conftest import deliver, signed_post

LIFECYCLES = 20
# Each seed is the issue's whole scenario: all 20 lifecycles' events (~150), each delivered 3
# times, shuffled by the seed, by 8 concurrent senders, compared with the in-order state. The issue
# asks for 50 seeds, ~4 s each on two cores (~200 s): CI (.ci/run) plays all 50 (the crash
# variant 10), an everyday `make test` 5 (the crash variant 1).
SEEDS = int(os.environ.get("BILLING_CONVERGENCE_SEEDS", "5"))
SENDERS = 8


def senders() -> int:
    # SQLite's in-memory test database (shared cache) answers "table is locked" at once instead
    # of waiting for the writer, so on the embedded default one sender plays the shuffled,
    # duplicated stream; the 8 concurrent senders run on PostgreSQL (CI and production).
    from django.db import connection

    return SENDERS if connection.vendor == "postgresql" else 1


SUBSCRIPTION_FIELDS = (
    "stripe_id", "account_id", "plan_id", "status", "current_period_start", "current_period_end",
    "cancel_at_period_end", "past_due_since", "ended_at", "checkout_session_id",
)  # fmt: skip


def play_lifecycles(sim, plans, user_factory) -> list[dict]:
    """Subscriptions that upgrade, fail payments, recover, cancel: the events they produce."""
    rng = random.Random(1234)
    for n in range(LIFECYCLES):
        owner = user_factory(f"owner{n}@example.com")
        account = Account.objects.for_user(owner).get()
        plan = plans["starter"] if n % 2 else plans["pro"]
        url = flows.start_checkout(
            account, plan, owner, "http://t/s?session_id={CHECKOUT_SESSION_ID}", "http://t/c"
        )
        sub = sim.pay_checkout(url)["subscription"]
        steps = rng.sample(
            ["upgrade", "fail", "renew", "cancel_end", "cancel_now"], k=rng.randint(1, 3)
        )
        for step in steps:
            if step == "upgrade":
                other = plans["pro"] if plan == plans["starter"] else plans["starter"]
                flows._switch_price(sub, other, proration="create_prorations")
            elif step == "fail":
                sim.control(f"subscriptions/{sub}/fail_next_payment")
                sim.control(f"subscriptions/{sub}/advance")
                if rng.random() < 0.5:
                    sim.control(f"subscriptions/{sub}/pay")
            elif step == "renew":
                sim.control(f"subscriptions/{sub}/advance")
            elif step == "cancel_end":
                gateway.update_subscription(sub, {"cancel_at_period_end": True})
                sim.control(f"subscriptions/{sub}/advance")
            else:
                gateway.cancel_subscription(sub)
            if step.startswith("cancel"):
                break
    return sim.events()


def reset_local_state() -> None:
    StripeEvent.objects.all().delete()
    Notice.objects.all().delete()
    Subscription.objects.all().delete()
    Invoice.objects.all().delete()
    AuditEvent.objects.filter(action__startswith="billing.").delete()
    Account.objects.update(plan=None)
    mail.outbox.clear()


def snapshot() -> dict:
    subs = sorted(Subscription.objects.values_list(*SUBSCRIPTION_FIELDS))
    invoices = sorted(
        Invoice.objects.values_list(
            "stripe_id", "account_id", "status", "amount_due", "amount_paid", "number"
        )
    )
    audit = Counter(
        AuditEvent.objects.filter(action__startswith="billing.").values_list(
            "account_id", "action", "target"
        )
    )
    emails = Counter((m.subject, tuple(m.to)) for m in mail.outbox)
    return {
        "subs": subs, "invoices": invoices, "audit": audit, "emails": emails,
        "plans": sorted(Account.objects.values_list("id", "plan_id")),
        "notices": sorted(Notice.objects.values_list("key", flat=True)),
        "events": Counter(StripeEvent.objects.values_list("status", flat=True)),
    }  # fmt: skip


def deliver_concurrently(deliveries: list[dict]) -> list[int]:
    work: queue.Queue[dict] = queue.Queue()
    for event in deliveries:
        work.put(event)
    codes: list[int] = []
    failures: list[BaseException] = []

    def sender() -> None:
        client = Client()
        try:
            while True:
                try:
                    event = work.get_nowait()
                except queue.Empty:
                    return
                codes.append(signed_post(client, event).status_code)
        except BaseException as error:  # surfaced below, with the thread's error
            failures.append(error)
        finally:
            from django.db import connection

            connection.close()

    threads = [threading.Thread(target=sender) for _ in range(senders())]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    return codes


@pytest.fixture(autouse=True)
def celery_join_guard_restored():
    # Eager tasks toggle Celery's process-global "joining would block" flag with a save and
    # restore that is not thread-safe; 8 threads can leave it set. Put it back for later tests.
    yield
    _set_task_join_will_block(False)


@pytest.fixture
def lifecycles(transactional_db, sim, plans, user_factory):
    return play_lifecycles(sim, plans, user_factory)


def in_order_baseline(events) -> dict:
    reset_local_state()
    assert set(deliver(Client(), events)) == {200}
    baseline = snapshot()
    assert all(count == 1 for count in baseline["audit"].values())
    assert all(count == 1 for count in baseline["emails"].values())
    assert baseline["emails"], "the lifecycles should produce emails"
    return baseline


def shuffled_deliveries(events, seed: int) -> list[dict]:
    deliveries = [event for event in events for _ in range(3)]
    random.Random(seed).shuffle(deliveries)
    return deliveries


@pytest.mark.django_db(transaction=True)
def test_it_converges_on_the_in_order_state_whatever_the_order_and_duplication(lifecycles):
    baseline = in_order_baseline(lifecycles)
    started = time.monotonic()
    for seed in range(SEEDS):
        reset_local_state()
        codes = deliver_concurrently(shuffled_deliveries(lifecycles, seed))
        assert set(codes) == {200}
        assert snapshot() == baseline, f"seed {seed} diverged"
    print(f"{SEEDS} seeds x {len(lifecycles) * 3} deliveries in {time.monotonic() - started:.1f}s")


@pytest.mark.django_db(transaction=True)
def test_it_converges_when_handlers_crash_mid_way_and_are_retried(lifecycles, monkeypatch):
    baseline = in_order_baseline(lifecycles)
    real = flows._refresh_account_plan
    lock = threading.Lock()
    crashes = {"n": 0}

    def crashing(account):
        changed = real(account)  # the subscription row and notices are already written here
        with lock:
            crash = rng.random() < 0.05
            crashes["n"] += crash
        if crash:
            raise RuntimeError("worker crashed mid-way")
        return changed

    monkeypatch.setattr(flows, "_refresh_account_plan", crashing)
    celery_app.conf.task_eager_propagates = False  # a failed run retries, as on a worker
    for seed in range(max(1, SEEDS // 5)):
        rng = random.Random(seed)
        reset_local_state()
        assert set(deliver_concurrently(shuffled_deliveries(lifecycles, seed))) == {200}
        result = snapshot()
        assert result == baseline, f"seed {seed} diverged"
    assert crashes["n"] > 0
