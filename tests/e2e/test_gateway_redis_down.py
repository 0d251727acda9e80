from __future__ import annotations

import threading
import time

import pytest
import requests

from gateway.leasing import TERM_MS
from gateway.models import UncountedCall
from tests.gateway.stack import GatewayStack
from tests.gateway.support import make_key, make_plan, make_product
from tests.helpers import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A busy account holds a lease (gateway/leasing.py): calls already counted in Redis, which its
# auth process admits on its own until the lease's term ends, with or without Redis. So the
# outage's answers are checked from one term after Redis has gone (and a margin for a loaded
# machine's scheduling), and the outage lasts long enough to leave a second of them.
LEASE_TERM_S = TERM_MS / 1000
SETTLED_S = LEASE_TERM_S + 0.5
OUTAGE_S = SETTLED_S + 1.0


class Load(threading.Thread):
    """Calls the API back to back, recording (monotonic time, status, code) of each answer."""

    def __init__(self, url: str, raw_key: str) -> None:
        super().__init__(daemon=True)
        self.url, self.raw_key = url, raw_key
        self.answers: list[tuple[float, int, str]] = []
        self.done = threading.Event()

    def run(self) -> None:
        with requests.Session() as session:
            while not self.done.is_set():
                answer = session.get(self.url, headers={"X-API-Key": self.raw_key}, timeout=10)
                code = answer.json().get("code", "") if answer.status_code != 200 else ""
                self.answers.append((time.monotonic(), answer.status_code, code))

    def between(self, start: float, end: float) -> list[tuple[int, str]]:
        return [(s, c) for t, s, c in self.answers if start <= t < end]


def run_through_an_outage(tmp_path, private_redis, team, **env) -> tuple[Load, float, float, float]:
    """(load, when Redis had gone, when it was started again, when calls were admitted again)."""
    make_plan("free", [make_product()], is_default=True, requests_per_period=1_000_000)
    raw, _ = make_key(team)
    stack = GatewayStack(tmp_path, redis_url=private_redis.url, **env).start()
    load = Load(f"{stack.url}/demo/hello", raw)
    try:
        load.start()
        wait_for(lambda: len(load.answers) >= 20, what="calls answered before the outage")
        going = time.monotonic()
        private_redis.stop()
        gone = time.monotonic()
        time.sleep(OUTAGE_S)
        restarted = time.monotonic()
        private_redis.start()
        # Recovery within 5 s of Redis returning, then some steady calls after it.
        wait_for(lambda: load.between(restarted + 0.1, float("inf"))[-5:] == [(200, "")] * 5,
                 timeout=5.0 + 1.0, what="recovery")  # fmt: skip
        recovered = time.monotonic()
        time.sleep(0.5)
    finally:
        load.done.set()
        load.join(timeout=15)
        stack.stop()
    assert set(load.between(0, going)) == {(200, "")}
    return load, gone, restarted, recovered


def test_it_answers_503_while_redis_is_down_and_recovers_within_5_s(tmp_path, private_redis, team):
    load, gone, restarted, recovered = run_through_an_outage(tmp_path, private_redis, team)
    during = load.between(gone + SETTLED_S, restarted)
    assert during and set(during) == {(503, "unavailable")}
    assert recovered - restarted <= 5.0 + 0.5  # private_redis.start() itself takes a moment
    assert set(load.between(recovered, float("inf"))) == {(200, "")}
    assert {s for _, s, _ in load.answers} <= {200, 503}  # never a bare 500


def test_it_admits_and_records_calls_while_redis_is_down_when_configured_to(
    tmp_path, private_redis, team
):
    load, gone, restarted, _ = run_through_an_outage(
        tmp_path, private_redis, team, GATEWAY_ON_REDIS_DOWN="allow"
    )
    assert {s for _, s, _ in load.answers} == {200}
    during = len(load.between(gone + SETTLED_S, restarted))
    assert during > 0
    assert UncountedCall.objects.count() >= during
