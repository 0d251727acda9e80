from __future__ import annotations

import time

import pytest

from gateway.counting import account_tag
from tests.gateway.stack import GatewayStack, hammer
from tests.gateway.support import make_key, make_plan, make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

RUNS, QUOTA, REQUESTS, CONNECTIONS = 20, 500, 5_000, 100


@pytest.fixture(
    params=[(1, False), (3, True)],
    ids=["one auth process on TCP", "three auth processes on a unix socket"],
)
def stack(request, tmp_path, redis_db):
    make_plan("quota500", [make_product()], is_default=True, requests_per_period=QUOTA)
    # Several processes each pipeline their own decisions: the quota still holds across them,
    # whichever way nginx reaches them.
    workers, unix = request.param
    running = GatewayStack(tmp_path, auth_workers=workers)
    running = (running.on_unix_socket() if unix else running).start()
    yield running
    running.stop()


def test_it_admits_exactly_the_quota_under_concurrent_load_in_every_run(stack, team, redis_db):
    raw, _ = make_key(team)
    started = time.monotonic()
    admitted = []
    for _ in range(RUNS):
        for name in redis_db.scan_iter(f"{account_tag(team.pk)}:*"):
            redis_db.delete(name)  # a fresh period for each run
        statuses = hammer(stack.port, "/demo/hello", raw, REQUESTS, CONNECTIONS)
        assert sum(statuses.values()) == REQUESTS
        assert set(statuses) <= {200, 429}, statuses
        admitted.append(statuses[200])
    assert admitted == [QUOTA] * RUNS
    print(f"{RUNS} runs of {REQUESTS} requests in {time.monotonic() - started:.1f} s")
