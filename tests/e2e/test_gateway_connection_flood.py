"""The finding this reproduces: whoever could connect to the auth server's port held idle
connections until its process ran out of descriptors; nginx's new connections to it were then
reset and its Redis reconnects failed, so every API call through nginx got a 503."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.gateway.stack import GatewayStack
from tests.gateway.support import make_key, make_plan, make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path, redis_db):
    product = make_product()
    make_plan(
        "free", [product], is_default=True,
        requests_per_second=1000, requests_per_minute=10_000, requests_per_period=10_000,
    )  # fmt: skip
    # Strangers are not closed for silence during the test: only the connection cap can help.
    running = GatewayStack(tmp_path, GATEWAY_AUTH_FIRST_BYTE_SECONDS="600").start()
    yield running
    running.stop()


def lower_descriptor_limit_of_auth_processes(stack: GatewayStack, limit: int) -> None:
    """As the reviewer did: on the running processes (the supervisor's children)."""
    supervisor = stack.processes["auth"].pid
    found = subprocess.run(["pgrep", "-P", str(supervisor)], capture_output=True, text=True)
    children = found.stdout.split()
    assert len(children) == stack.auth_workers
    for pid in children:
        subprocess.run(["prlimit", "--pid", pid, f"--nofile={limit}:{limit}"], check=True)


def test_idle_connections_to_the_auth_port_do_not_take_the_gateway_down(stack, team):
    raw, _ = make_key(team)
    url = f"{stack.url}/demo/hello"

    def call(_: int) -> int:
        return requests.get(url, headers={"X-API-Key": raw}, timeout=30).status_code

    assert call(0) == 200  # nginx holds a kept-alive connection to the auth server from here on
    lower_descriptor_limit_of_auth_processes(stack, 128)
    with contextlib.ExitStack() as strangers:
        for _ in range(200):
            strangers.enter_context(socket.create_connection(("127.0.0.1", stack.auth_port), 30))
        # At once, so nginx opens new connections to the auth server beside its kept-alive one.
        with ThreadPoolExecutor(8) as callers:
            assert list(callers.map(call, range(8))) == [200] * 8
