"""Tallied calls (gateway/tallying.py): calls no limit could refuse, admitted on the auth server's
loop without Redis and counted in batches, on a real uvloop loop, pipeline and Redis.

What Redis holds after the tick is compared with what scripted calls would have left there: the
period counter and the usage hashes, each call once.
"""

from __future__ import annotations

import asyncio
import collections
import gc

import pytest
import redis
from prometheus_client import REGISTRY

from accounts.models import Account
from core.redis_keys import DIRTY_ACCOUNTS, hour_keys
from gateway import invalidation, tallying
from gateway.counting import pack
from portal.redis_client import get_redis
from tests.gateway.support import make_key, make_plan, make_product
from tests.gateway.test_leasing import (
    START,
    TERM,
    LoopGateway,
    account_usage,
    call,
    metered,
    quota_count,
    warm,
)

pytestmark = pytest.mark.usefixtures("redis_db")


@pytest.fixture
def gateway():
    """An auth process's loop whose pipeline is connected (calls are tallied only then)."""
    running = LoopGateway()
    connected = running.loop.create_future()
    running.pipeline.submit(pack("PING"), connected.set_result)
    running.loop.run_until_complete(asyncio.wait_for(connected, 5))
    running.pipeline.commands = 0
    yield running
    running.close()


def roomy(product):
    return make_plan("roomy", [product])  # no limit of any kind: nothing to refuse


def test_unbounded_calls_reach_redis_in_batches_and_each_is_counted_once(gateway, team, product):
    team.plan = roomy(product)
    team.save()
    raws = [make_key(team)[0] for _ in range(3)]
    warm(raws, START)
    metric_before = REGISTRY.get_sample_value("tollgate_tallied_calls_total") or 0.0
    decided = []
    for n in range(10):
        decided += gateway.burst(START + n * 0.05, [call(raws[(n + i) % 3]) for i in range(5)])
        assert gateway.pipeline.commands == 0  # not one script, lease or round trip per call
    assert all(d.status == 204 for d in decided)
    assert {name for name, _ in decided[0].headers} >= {"X-Consumer-Id", "X-Key-Id", "X-Plan"}
    assert not any(name.startswith(("RateLimit", "X-Quota")) for d in decided
                   for name, _ in d.headers)  # fmt: skip
    gateway.tick(START + 1)
    # The batch (NOSCRIPT from a Redis that never ran it, then its text), the dirty mark
    assert gateway.pipeline.commands <= 3
    assert quota_count(team.pk) == len(decided) == 50
    by_key = collections.Counter(dict(d.headers)["X-Key-Id"] for d in decided)
    usage = account_usage(team.pk)
    assert {f.split("|")[0]: n for f, n in usage.items()} == dict(by_key)
    assert all(f.split("|")[1] == "demo" and f.endswith("|ok") for f in usage)
    # The flush hears of the new usage hash; the operator sees the calls.
    assert get_redis().sismember(DIRTY_ACCOUNTS, team.pk)
    metric = REGISTRY.get_sample_value("tollgate_tallied_calls_total") or 0.0
    assert metric - metric_before == 50
    assert REGISTRY.get_sample_value("tollgate_tally_batches_waiting") == 0


def test_a_weighted_call_is_tallied_at_its_cost(gateway, team):
    spec = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {"/heavy": {"get": {}}}}  # fmt: skip
    product = make_product(openapi_spec=spec,
                           operations=[{"method": "GET", "path": "/heavy", "cost": 3}])  # fmt: skip
    team.plan = roomy(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    decided = gateway.burst(START, [call(raw, "/demo/heavy")] * 4 + [call(raw)] * 2)
    assert all(d.status == 204 for d in decided) and gateway.pipeline.commands == 0
    gateway.tick(START + 1)
    assert quota_count(team.pk) == 4 * 3 + 2
    usage = {f.split("|", 1)[1]: n for f, n in account_usage(team.pk).items()}
    assert usage == {"demo|other|ok": 2, "demo|GET /heavy|ok|3": 4}


def test_many_accounts_share_batches_and_every_one_is_counted(gateway, user_factory, product):
    plan = roomy(product)
    owner = user_factory("owner@example.com")
    teams = []
    for n in range(tallying.BATCH_ENTRIES + 6):  # more than one batch's entries
        account = Account.objects.create_with_owner(f"team {n}", owner)
        account.plan = plan
        account.save()
        teams.append((account, make_key(account)[0]))
    warm([raw for _, raw in teams], START)
    gateway.burst(START, [call(raw) for _, raw in teams for _ in range(2)])
    gateway.tallies.close()
    gateway.tallies.batch_closed()
    assert len(gateway.tallies.batches.unapplied) == 2
    gateway.tick(START + 1)
    assert [quota_count(account.pk) for account, _ in teams] == [2] * len(teams)
    assert get_redis().scard(DIRTY_ACCOUNTS) == len(teams)


def test_a_batch_sent_again_after_a_lost_reply_is_applied_once(gateway, team, product):
    team.plan = roomy(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    gateway.burst(START, [call(raw)] * 6)
    gateway.tallies.flush()
    (batch,) = gateway.tallies.batches.unapplied.values()
    gateway.tick(START + 1)
    before = (quota_count(team.pk), account_usage(team.pk))
    assert before[0] == sum(before[1].values()) == 6
    batch.sending = False  # its reply lost on the way back: the same batch goes again
    gateway.tallies.batches.unapplied[batch.name] = batch
    gateway.tick(START + 2)
    assert (quota_count(team.pk), account_usage(team.pk)) == before


def test_a_batch_after_redis_forgot_its_script_is_sent_with_the_text(gateway, team, product):
    team.plan = roomy(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    gateway.burst(START, [call(raw)] * 5)
    get_redis().script_flush()  # Redis restarted before the tick
    gateway.tick(START + 1)
    assert quota_count(team.pk) == sum(account_usage(team.pk).values()) == 5


def test_a_plan_with_a_limit_counts_the_calls_tallied_before_it(gateway, team, product):
    """Moved from an unlimited plan to a quota of 10 with 7 calls tallied and not yet sent:
    the next calls, counted by script, find those 7 counted (exactly 3 more are admitted)."""
    team.plan = roomy(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    assert all(d.status == 204 for d in gateway.burst(START, [call(raw)] * 7))
    assert gateway.tallies.open.calls  # tallied, not sent
    team.plan = make_plan("capped", [product], requests_per_period=10)
    team.save()
    invalidation.apply(invalidation.EVERYTHING)
    warm([raw], START)  # the new plan loaded (its warm-up count forgotten; the tally kept)
    decided = gateway.burst(START + 0.5, [call(raw)] * 5)
    assert [d.status for d in decided] == [204] * 3 + [403] * 2
    gateway.tick(START + 1)
    assert quota_count(team.pk) == 10


def test_busy_metered_accounts_are_leased_not_tallied(gateway, team, product):
    """A quota billed beyond its end is a limit (X-Quota-* describe it): leases, not tallies."""
    team.plan = metered(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    for n in range(12):
        gateway.burst(START + n * TERM / 4, [call(raw)] * 4)
    assert gateway.tallies.tallied == 0 and gateway.leases.leased > 0


def test_a_tally_leaves_no_object_per_call_for_the_garbage_collector(gateway):
    """Tallies live a second and batches until Redis answers, long enough to reach the
    collector's oldest generation if it tracked them; its full passes then walked the caches'
    objects while the loop waited."""
    keys = [(f"s{n}", f"m{n}", f"q{n}", f"u{n}", f"h{n}") for n in range(2_000)]
    gc.collect()
    before = len(gc.get_objects())
    for n, counter_keys in enumerate(keys):  # 2,000 accounts calling once: an entry each
        gateway.tallies.add(n, counter_keys, f"key_{n}|demo|other", 1, 3600)
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert len(gateway.tallies.open.calls) == 2_000
    # Nor in the batches that carry them until Redis answers (32 of them, an object each).
    gateway.tallies.close()
    gateway.tallies.batch_closed()
    gc.collect()
    assert len(gateway.tallies.batches.unapplied) == 2_000 // tallying.BATCH_ENTRIES + 1
    assert len(gc.get_objects()) - before < 100


def test_a_closed_second_is_batched_a_batch_per_loop_iteration(gateway):
    """The tick only closes the second's tallies: batching a hundred thousand accounts' entries
    in one loop iteration held every call waiting behind it up for ~10 ms."""
    accounts = range(1, 3 * tallying.BATCH_ENTRIES + 1)
    for account_id in accounts:
        keys = hour_keys(account_id, "live", 490_000, 0)
        gateway.tallies.add(account_id, keys, f"key_{account_id}|demo|other", 1, 3600)
    gateway.tallies.tick(START)
    closed = gateway.tallies.closed
    assert closed.position == 0 and gateway.tallies.batching  # closed, not batched yet
    gateway.tallies.batch_next()  # what the loop runs next: one batch, the next one scheduled
    assert closed.position == tallying.BATCH_ENTRIES and gateway.tallies.batching
    gateway.tick(START + 1)
    counted = [get_redis().get(hour_keys(n, "live", 490_000, 0)[2]) for n in accounts]
    assert counted == [b"1"] * len(accounts)
    assert gateway.tallies.closed is None and gateway.tallies.settled


def test_without_a_connection_to_redis_calls_are_counted_by_script(gateway, team, product):
    """A lost connection (Redis restarted, or gone): the next call is counted by script, which
    reconnects or meets the Redis-down rules, rather than admitted on a tally no one can
    send; once connected again, calls are tallied."""
    team.plan = roomy(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    gateway.burst(START, [call(raw)])
    assert gateway.tallies.tallied == 1 and quota_count(team.pk) == 0
    gateway.pipeline.link.drop(redis.ConnectionError("gone"))
    gateway.burst(START + 0.1, [call(raw)])  # counted by script, which connects again
    assert gateway.tallies.tallied == 1 and quota_count(team.pk) == 1
    gateway.burst(START + 0.2, [call(raw)])
    assert gateway.tallies.tallied == 2
    gateway.tick(START + 1)
    assert quota_count(team.pk) == 3
