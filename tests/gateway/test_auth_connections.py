"""Who may hold the auth server's connections, and for how long: only nginx should reach its
port, but whoever else does must not be able to take its descriptors (gateway/worker.py)."""

from __future__ import annotations

import contextlib
import resource
import socket
from collections.abc import Iterator

import pytest

from tests.gateway.support import make_key, make_plan
from tests.gateway.test_auth_server import auth_request, connect, parse, start_server
from tests.helpers import free_port, wait_for_sole_listener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def free_plan(product):
    """Room for every call these tests make: each must be decided 204, never 429."""
    return make_plan(
        "free", [product], is_default=True,
        requests_per_second=1000, requests_per_minute=10_000, requests_per_period=10_000,
    )  # fmt: skip


@contextlib.contextmanager
def running_server(tmp_path, preexec_fn=None, **environ: str) -> Iterator[int]:
    port = free_port()
    process = start_server(
        tmp_path, "--port", str(port), "--workers", "1", "--threads", "4",
        preexec_fn=preexec_fn, **environ,
    )  # fmt: skip
    try:
        wait_for_sole_listener(port, process, what="auth server")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


def status_of_next_response(sock: socket.socket) -> int:
    """Read one whole response (the server's are bodiless but for 404's) off a kept-alive
    connection; its status."""
    reader = sock.makefile("rb")
    head = b""
    while (line := reader.readline()) not in (b"\r\n", b""):
        head += line
    length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                   if h.lower().startswith(b"content-length:")), 0)  # fmt: skip
    reader.read(length)
    return parse(head + b"\r\n")[0]


def closed_by_the_server(sock: socket.socket, within: float) -> bool:
    """Wait (at most `within` seconds: a bound, not a measure) for the server to close it."""
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_stranger_that_falls_silent_is_closed_and_nginxs_kept_alive_connection_is_not(
    tmp_path, redis_db, free_plan, team
):
    raw, _ = make_key(team)
    server = running_server(tmp_path, GATEWAY_AUTH_FIRST_BYTE_SECONDS="1")
    with server as port, connect(port, 30) as nginxs:
        nginxs.sendall(auth_request(raw))
        assert status_of_next_response(nginxs) == 204
        # Both idle from after nginx's call: any sweep that closes them would close nginx's
        # connection too, were the long idle allowance not its alone.
        with connect(port, 30) as silent, connect(port, 30) as secretless:
            secretless.sendall(auth_request(raw, secret="wrong"))
            assert status_of_next_response(secretless) == 404
            assert closed_by_the_server(silent, within=30)
            assert closed_by_the_server(secretless, within=30)
        nginxs.sendall(auth_request(raw))
        assert status_of_next_response(nginxs) == 204


def lower_descriptor_limit_to(soft: int):
    def lower() -> None:  # in the server's process, before it starts: its workers inherit it
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    return lower


def test_strangers_holding_connections_cannot_exhaust_a_workers_descriptors(
    tmp_path, redis_db, free_plan, team
):
    """With 128 descriptors, 200 idle strangers once took every one: nginx's new connections
    were reset and Redis could not be reached, so every call was refused."""
    raw, _ = make_key(team)
    server = running_server(
        tmp_path,
        preexec_fn=lower_descriptor_limit_to(128),
        # Strangers are not closed for silence during the test: only the cap can save it.
        GATEWAY_AUTH_FIRST_BYTE_SECONDS="600",
    )
    with server as port, connect(port, 30) as nginxs, contextlib.ExitStack() as strangers:
        nginxs.sendall(auth_request(raw))
        assert status_of_next_response(nginxs) == 204
        for _ in range(200):
            strangers.enter_context(connect(port, 30))
        # nginx's kept-alive connection, and new ones it opens, are answered as ever.
        for _ in range(8):
            nginxs.sendall(auth_request(raw))
            assert status_of_next_response(nginxs) == 204
        for _ in range(8):
            with connect(port, 30) as fresh:
                fresh.sendall(auth_request(raw))
                assert status_of_next_response(fresh) == 204
