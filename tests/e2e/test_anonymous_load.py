"""Anonymous traffic on the portal cannot slow down or break API calls (issue #12, high).

64 clients with no key loop on /healthz and /pricing/, half on the portal's own port, half
through nginx, from a process of their own; meanwhile calls with a valid key go through nginx
one after another. Those calls are decided by the auth server, which shares no thread with the
portal: none may fail, and their p95 stays under 100 ms.
"""

from __future__ import annotations

import collections
import http.client
import json
import statistics
import subprocess
import sys
import time

import pytest

from tests.gateway.stack import GatewayStack
from tests.gateway.support import make_key, make_plan, make_product
from tests.helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CLIENTS_PER_TARGET = 16  # four targets: 64 anonymous clients
LOAD_SECONDS, REQUESTS_PER_CLIENT = 60, 5000  # the load's bounds, whatever happens
CALLS, MEASURE_SECONDS = 400, 20  # API calls made under load: this many, or for this long
P95_LIMIT_MS = 100


@pytest.fixture
def stack(tmp_path, redis_db):
    make_plan("free", [make_product()], is_default=True)  # no limits: every call is admitted
    running = GatewayStack(tmp_path).start()
    yield running
    running.stop()


def api_calls(port: int, raw_key: str, count: int, seconds: float):
    """Keyed calls one after another (a pause of 10 ms between them): statuses and ms each."""
    statuses: collections.Counter[int] = collections.Counter()
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {raw_key}"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    deadline = time.monotonic() + seconds
    try:
        while len(latencies) < count and time.monotonic() < deadline:
            started = time.perf_counter()
            connection.request("GET", "/demo/hello", headers=headers)
            answer = connection.getresponse()
            answer.read()
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[answer.status] += 1
            if answer.will_close:
                connection.close()
            time.sleep(0.01)
    finally:
        connection.close()
    return statuses, latencies


def test_anonymous_clients_cannot_slow_down_keyed_calls(stack, team):
    raw, _ = make_key(team)
    warm, _ = api_calls(stack.port, raw, 20, 30)  # the key and policy caches, nginx's pools
    assert warm == {200: 20}
    ports, paths = (stack.portal_port, stack.port), ("/healthz", "/pricing/")
    targets = [f"{port}{path}:{CLIENTS_PER_TARGET}" for port in ports for path in paths]
    load = subprocess.Popen(
        [sys.executable, "-m", "tests.e2e.anonymous_load", "--seconds", str(LOAD_SECONDS),
         "--per-client", str(REQUESTS_PER_CLIENT), *targets],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert load.stdout.readline().strip() == "running"
        started = time.monotonic()
        statuses, latencies = api_calls(stack.port, raw, CALLS, MEASURE_SECONDS)
        measured = time.monotonic() - started
    finally:
        load.terminate()
        output, _ = load.communicate(timeout=60)
    names = {str(stack.portal_port): "portal", str(stack.port): "nginx"}
    anonymous = {f"{names[port]} /{rest}": count for key, count in
                 json.loads(output.strip().splitlines()[-1]).items()
                 for port, rest in [key.split("/", 1)]}  # fmt: skip
    quantiles = statistics.quantiles(latencies, n=100)
    figures = (
        f"{len(latencies)} keyed calls in {measured:.1f} s: {dict(statuses)}, "
        f"p50 {quantiles[49]:.1f} ms, p95 {quantiles[94]:.1f} ms, max {max(latencies):.1f} ms; "
        f"anonymous answers meanwhile: {anonymous}"
    )
    print(figures)
    # The load was real: the anonymous clients kept both servers busy the whole time.
    assert sum(anonymous.values()) >= 10 * 4 * CLIENTS_PER_TARGET, figures
    assert statuses == {200: len(latencies)}, figures
    assert len(latencies) >= 200, figures
    assert quantiles[94] < P95_LIMIT_MS, figures
