"""Leased allowance and tallied calls through the real gateway (nginx, two auth processes, Redis):
most calls of a busy account are admitted without a Redis round trip of their own (on a lease
under a metered quota; tallied when the plan has no limit at all), and each is still counted
exactly once."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from gateway.counting import account_tag
from portal.redis_client import get_redis
from tests.gateway.stack import GatewayStack, hammer
from tests.gateway.support import make_key, make_plan, make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CALLS = 4_000


# Every call is admitted on both: "metered" bills calls beyond its quota (a limit, so leased),
# "roomy" has no limit (tallied, gateway/tallying.py).
PLANS = {
    "metered": {"requests_per_period": 10**9, "overage_price_per_1000": Decimal("0.50")},
    "roomy": {},
}


@pytest.fixture(params=sorted(PLANS))
def stack(request, tmp_path, redis_db):
    make_plan(request.param, [make_product()], is_default=True, **PLANS[request.param])
    running = GatewayStack(tmp_path, auth_workers=2).start()
    yield running
    running.stop()


def counted(account_id):
    """(units in the quota, calls in the usage hashes under "ok")."""
    redis = get_redis()
    quota = sum(int(redis.get(k)) for k in redis.scan_iter(f"{account_tag(account_id)}:quota:*"))
    usage = sum(
        int(n)
        for name in redis.scan_iter(f"{account_tag(account_id)}:use:*")
        for field, n in redis.hgetall(name).items()
        if field.endswith(b"|ok")
    )
    return quota, usage


def scripts_run():
    stats = get_redis().info("commandstats")
    return sum(stats.get(name, {}).get("calls", 0) for name in ("cmdstat_evalsha", "cmdstat_eval"))


def test_calls_admitted_without_a_round_trip_are_each_counted_once(stack, team):
    raw, _ = make_key(team)
    get_redis().config_resetstat()
    statuses = hammer(stack.port, "/demo/hello", raw, total=CALLS, connections=32)
    assert statuses == {200: CALLS}
    # Leases close as their term ends, tallies go every second: the counts are whole soon after.
    deadline = time.monotonic() + 3
    while counted(team.pk) != (CALLS, CALLS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counted(team.pk) == (CALLS, CALLS)
    # Not vacuous: far fewer scripts than calls ran (leases and their releases, or batches).
    assert scripts_run() < CALLS // 2


def test_stopping_the_auth_server_counts_what_it_admitted_without_redis(stack, team):
    raw, _ = make_key(team)
    statuses = hammer(stack.port, "/demo/hello", raw, total=CALLS, connections=32)
    assert statuses == {200: CALLS}
    stack.stop()  # SIGTERM at once: each process closes its leases, sends its tallies, then exits
    assert counted(team.pk) == (CALLS, CALLS)
