"""Prepaid credits and a time pass end to end, nothing stubbed: the real SDK talks to the
simulator, whose signed webhooks go through nginx to the portal and a real Celery worker;
calls go through nginx's auth_request.

Buy credits → calls spend them → 402 credits_exhausted at zero → an automatic top-up (an
off-session charge, run by the worker's credit flush) → 200 again; a day pass expiring in the
middle of a stream of calls; and exactness: a balance of 500 units and 5,000 concurrent calls
admit exactly 500, in every run.
"""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.utils import timezone

from accounts.signals import account_policy_changed
from billing.catalog_sync import sync_catalog
from catalog.models import CreditPack
from core.redis_keys import account_tag
from credits import balance, ledger, purchases
from credits.models import CreditEntry, CreditWallet, EntryKind, TimePass, TopUp
from credits.tasks import flush as flush_task
from portal.celery import app as celery_app
from tests.billing.conftest import billed_stack
from tests.gateway.stack import hammer
from tests.gateway.support import make_key, make_plan, make_product
from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
RUNS, BALANCE, REQUESTS, CONNECTIONS = 20, 500, 5_000, 100


@pytest.fixture
def catalog(db):
    product = make_product()
    # Nothing without a purchase: the default plan's quota is 0, hard-capped.
    make_plan("free", [product], is_default=True, requests_per_period=0)
    payg = make_plan("payg", [product])
    day = make_plan("day", [product], pass_days=1, pass_price=Decimal("5.00"))
    pack = CreditPack.objects.create(
        slug="ten", name="Ten", credits=10, price=Decimal("1.00"), plan=payg
    )
    return {"pack": pack, "day": day, "payg": payg}


@pytest.fixture
def stack(tmp_path, redis_db, sim, catalog):
    sync_catalog()
    for item in catalog.values():
        item.refresh_from_db()
    celery_app.conf.task_always_eager = False  # tasks go to the worker, as in production
    with billed_stack(tmp_path, sim) as running:
        yield running


def call(stack, raw_key: str) -> requests.Response:
    return requests.get(f"{stack.url}/demo/hello", headers={"X-API-Key": raw_key}, timeout=5)


def calls_until_refused(stack, raw_key: str, limit: int) -> tuple[int, requests.Response]:
    for admitted in range(limit):
        response = call(stack, raw_key)
        if response.status_code != 200:
            return admitted, response
    raise AssertionError(f"{limit} calls admitted")


def buy(sim, team, alice, kind, item, made) -> None:
    """Pay in the simulator's Checkout; wait for the worker to apply the webhook (`made`)."""
    sim.pay_checkout(purchases.start_purchase(team, alice, kind, item, "http://t/s", "http://t/c"))
    wait_for(lambda: made.objects.filter(account=team).exists(), timeout=20,
             what=f"the {kind} applied by the worker")  # fmt: skip


def test_buy_spend_402_top_up_200(stack, sim, catalog, team, alice):
    live, _ = make_key(team)
    assert call(stack, live).status_code == 429  # the free plan's quota of 0

    buy(sim, team, alice, "credits", catalog["pack"], CreditEntry)
    wait_for(lambda: call(stack, live).status_code == 200, timeout=20, what="credits spent")
    admitted, refused = calls_until_refused(stack, live, 20)
    assert admitted == 9  # 10 units: the one above and these nine
    assert refused.status_code == 402
    assert refused.headers["X-Credits-Remaining"] == "0"
    assert refused.headers["Content-Type"] == "application/json"
    assert refused.json()["code"] == "credits_exhausted" and refused.json()["message"]
    assert balance.balance_of(team.pk) == 0

    CreditWallet.objects.filter(account=team).update(
        auto_topup=True, topup_pack=catalog["pack"], topup_below=2
    )
    flush_task.delay()  # what beat runs every CREDITS_FLUSH_SECONDS
    # The grant reaches Redis just after the top-up's commit.
    wait_for(lambda: balance.balance_of(team.pk) == 10, timeout=20, what="the top-up's units")
    assert TopUp.objects.get(account=team).status == "succeeded"
    first = call(stack, live)
    assert (first.status_code, first.headers["X-Credits-Remaining"]) == (200, "9")
    admitted, refused = calls_until_refused(stack, live, 20)
    assert admitted == 9 and refused.json()["code"] == "credits_exhausted"

    # Automatic top-up off first: at zero again, the next flush would rightly buy another pack,
    # and the ledger would hold 10, not the 0 this step checks.
    CreditWallet.objects.filter(account=team).update(auto_topup=False)
    flush_task.delay()
    wait_for(
        lambda: CreditEntry.objects.filter(account=team).balance() == 0,
        timeout=20,
        what="the usage flushed into the ledger",
    )
    kinds = sorted(CreditEntry.objects.filter(account=team).values_list("kind", flat=True))
    assert kinds.count(EntryKind.PURCHASE) == kinds.count(EntryKind.TOPUP) == 1
    usage = CreditEntry.objects.filter(kind=EntryKind.USAGE).values_list("units", flat=True)
    assert -sum(usage) == 20


def test_a_day_pass_expiring_mid_stream(stack, sim, catalog, team, alice):
    live, _ = make_key(team)
    buy(sim, team, alice, "pass", catalog["day"], TimePass)
    wait_for(lambda: call(stack, live).status_code == 200, timeout=20, what="the pass in force")
    # A day passes in three seconds: the pass's end moved, as a test clock would move it.
    ends_at = timezone.now() + timedelta(seconds=3)
    TimePass.objects.filter(account=team).update(ends_at=ends_at)
    account_policy_changed.send(sender=TimePass, account_id=team.pk)
    stream = []
    deadline = time.time() + 7
    while time.time() < deadline:
        sent = time.time()
        stream.append((sent, call(stack, live)))
    statuses = [response.status_code for _, response in stream]
    first_refused = statuses.index(402)
    assert set(statuses[:first_refused]) == {200} and set(statuses[first_refused:]) == {402}
    assert stream[first_refused][1].json()["code"] == "pass_expired"
    # Nothing admitted after the end: the gateway reloads the terms when the period ends.
    assert all(
        sent < ends_at.timestamp() + 0.05
        for sent, response in stream
        if response.status_code == 200
    )


def test_a_balance_of_500_admits_exactly_500_of_5000_concurrent_calls(
    stack, catalog, team, redis_db
):
    raw, _ = make_key(team)
    pack = catalog["pack"]
    pack.credits = BALANCE
    pack.save()
    fresh_balance(team, pack, "warm-up", redis_db)
    account_policy_changed.send(sender=TimePass, account_id=team.pk)
    wait_for(lambda: call(stack, raw).status_code == 200, timeout=20, what="credits in force")
    admitted = []
    started = time.monotonic()
    for run in range(RUNS):
        fresh_balance(team, pack, f"run-{run}", redis_db)
        statuses = hammer(stack.port, "/demo/hello", raw, REQUESTS, CONNECTIONS)
        assert sum(statuses.values()) == REQUESTS
        assert set(statuses) <= {200, 402}, statuses
        admitted.append(statuses[200])
    assert admitted == [BALANCE] * RUNS
    print(f"{RUNS} runs of {REQUESTS} requests in {time.monotonic() - started:.1f} s")


def fresh_balance(team, pack, reference, redis_db):
    """A new purchase of `pack` as the only movement: the ledger and Redis both hold its units."""
    for name in redis_db.scan_iter(f"{account_tag(team.pk)}:*"):
        redis_db.delete(name)
    CreditEntry.objects.filter(account=team).delete()
    balance.apply_grant(ledger.grant_pack(team, pack, EntryKind.PURCHASE, reference, None))
