"""Payment failure → past due → 402 at the gateway → paid → restored, with nothing stubbed.

The real SDK talks to the simulator; the simulator's signed webhooks go through nginx to the
portal (granian), which queues them for a real Celery worker; calls go through nginx's
auth_request to the same portal. The portal and the gateway run on the real clock, so time
passes by moving Stripe's dates back (the simulator's backdate control, like a test clock that
started in the past).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from django.core import mail

from accounts.models import AuditEvent
from billing import flows, gateway, tasks
from billing.models import Notice, Subscription
from catalog.models import PlanProduct
from tests.billing.conftest import billed_stack
from tests.gateway.support import make_key, make_product
from tests.helpers import wait_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.simulator_process,
    pytest.mark.django_db(transaction=True),
]
DAY = 86400
GRACE_DAYS = 3


@pytest.fixture
def stack(tmp_path, redis_db, sim, plans):
    product = make_product()
    for plan in plans.values():
        PlanProduct.objects.create(plan=plan, product=product)
    with billed_stack(tmp_path, sim, BILLING_GRACE_DAYS=str(GRACE_DAYS)) as running:
        yield running


def call(stack, raw_key: str) -> requests.Response:
    return requests.get(f"{stack.url}/demo/hello", headers={"X-API-Key": raw_key}, timeout=5)


def renewal_days_ago(sim, sub_id: str, days: int) -> datetime:
    """Move Stripe's dates so the subscription's current period began `days` days ago."""
    start = gateway.retrieve_subscription(sub_id)["items"]["data"][0]["current_period_start"]
    renewed = int(time.time()) - days * DAY
    sim.control(f"subscriptions/{sub_id}/backdate", seconds=start - renewed)
    return datetime.fromtimestamp(renewed, UTC)


def applied(sub_id: str, **fields) -> bool:
    return Subscription.objects.filter(stripe_id=sub_id, **fields).exists()


def gateway_follows(stack, raw_key: str, answer, within: float = 1.0) -> float:
    """Seconds until a call gets `answer` (a status, or the plan the demo API was told)."""

    def matches() -> bool:
        response = call(stack, raw_key)
        if isinstance(answer, int):
            return response.status_code == answer
        return response.status_code == 200 and response.json()["plan"] == answer

    started = time.monotonic()
    wait_for(matches, timeout=within, interval=0.02, what=f"the gateway to answer {answer}")
    return time.monotonic() - started


def mailed_subjects(stack) -> list[str]:
    """Subjects of the emails the worker wrote (the file backend, one file per send)."""
    folder = Path(stack.env["TOLLGATE_VAR_DIR"]) / "mail"
    return [
        line.removeprefix("Subject: ")
        for path in sorted(folder.glob("*.log"))
        for line in path.read_text().splitlines()
        if line.startswith("Subject: ")
    ]


def test_it_refuses_live_calls_with_402_after_the_grace_and_restores_them_once_paid(
    stack, sim, plans, team, alice
):
    live, _ = make_key(team)
    test_key, _ = make_key(team, environment="test")
    assert call(stack, live).json()["plan"] == "free"  # caches the policy, starts the listener

    checkout = flows.start_checkout(team, plans["starter"], alice, "http://t/s", "http://t/c")
    sub_id = sim.pay_checkout(checkout)["subscription"]
    wait_for(lambda: applied(sub_id, status="active", plan=plans["starter"]), timeout=20,
             what="the subscription applied by the worker")  # fmt: skip
    lags = {"subscribed": gateway_follows(stack, live, "starter")}

    # The renewal fails and two days pass: past due, still within the grace.
    sim.control(f"subscriptions/{sub_id}/fail_next_payment")
    sim.control(f"subscriptions/{sub_id}/advance")
    renewed = renewal_days_ago(sim, sub_id, GRACE_DAYS - 1)
    wait_for(lambda: applied(sub_id, status="past_due", past_due_since=renewed), timeout=20,
             what="the failed renewal applied by the worker")  # fmt: skip
    wait_for(lambda: "Payment failed for Alice's team" in mailed_subjects(stack), timeout=20,
             what="the payment-failed email")  # fmt: skip
    assert call(stack, live).status_code == 200

    # Two more days: the grace has run out.
    renewed = renewal_days_ago(sim, sub_id, GRACE_DAYS + 1)
    wait_for(lambda: applied(sub_id, status="past_due", past_due_since=renewed), timeout=20,
             what="the new dates applied by the worker")  # fmt: skip
    lags["suspended"] = gateway_follows(stack, live, 402)
    refused = call(stack, live)
    assert refused.status_code == 402
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json()["code"] == "payment_required" and refused.json()["message"]
    assert call(stack, test_key).status_code == 200  # test keys are never billed, never refused
    wait_for(lambda: "API access suspended for Alice's team" in mailed_subjects(stack),
             timeout=20, what="the access-suspended email")  # fmt: skip
    # The beat job finds the same episode already announced.
    assert tasks.announce_suspensions() == 0 and mail.outbox == []

    sim.control(f"subscriptions/{sub_id}/pay")
    wait_for(lambda: applied(sub_id, status="active"), timeout=20, what="the payment applied")
    lags["restored"] = gateway_follows(stack, live, 200)
    wait_for(lambda: "Payment received for Alice's team" in mailed_subjects(stack), timeout=20,
             what="the payment-recovered email")  # fmt: skip

    subjects = mailed_subjects(stack)
    assert sorted(subjects) == sorted([
        "Your Tollgate plan Starter is active", "Payment failed for Alice's team",
        "API access suspended for Alice's team", "Payment received for Alice's team",
    ]), subjects  # fmt: skip
    assert Notice.objects.filter(key__startswith="subscription.suspended:").count() == 1
    assert AuditEvent.objects.filter(action="billing.access_suspended").count() == 1
    print("gateway caught up after the database (s):", {k: round(v, 3) for k, v in lags.items()})
