"""Leased allowance through the real gateway (nginx, two auth processes, Redis): most calls of a
busy account are admitted without a Redis round trip, and each is still counted exactly once."""

from __future__ import annotations

import time

import pytest

from gateway.counting import account_tag
from portal.redis_client import get_redis
from tests.gateway.stack import GatewayStack, hammer
from tests.gateway.support import make_key, make_plan, make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CALLS = 4_000


@pytest.fixture
def stack(tmp_path, redis_db):
    make_plan("roomy", [make_product()], is_default=True)  # no limits: every call admitted
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


def test_calls_admitted_on_leases_are_each_counted_once(stack, team):
    raw, _ = make_key(team)
    get_redis().config_resetstat()
    statuses = hammer(stack.port, "/demo/hello", raw, total=CALLS, connections=32)
    assert statuses == {200: CALLS}
    # Leases close as their 100 ms bucket ends: the counts are whole a moment later.
    deadline = time.monotonic() + 3
    while counted(team.pk) != (CALLS, CALLS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counted(team.pk) == (CALLS, CALLS)
    # Not vacuous: far fewer scripts than calls ran (leases and their releases).
    assert scripts_run() < CALLS // 2


def test_stopping_the_auth_server_counts_what_its_leases_admitted(stack, team):
    raw, _ = make_key(team)
    statuses = hammer(stack.port, "/demo/hello", raw, total=CALLS, connections=32)
    assert statuses == {200: CALLS}
    stack.stop()  # SIGTERM at once: each process closes its leases before it exits
    assert counted(team.pk) == (CALLS, CALLS)
