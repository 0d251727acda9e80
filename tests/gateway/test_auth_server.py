"""The asyncio auth server (python -m gateway.server) as nginx and as an attacker talk to it:
raw HTTP/1.1 on a socket, its answers compared with the WSGI callable's for the same call."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable

import pytest
from django.conf import settings

from gateway.worker import MAX_HEADERS, head
from tests.gateway.stack import database_url, unix_socket_answers
from tests.gateway.support import ask, make_key
from tests.helpers import ROOT, free_port, wait_for, wait_for_sole_listener

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def start_server(
    tmp_path, *argv: str, preexec_fn: Callable[[], None] | None = None, **environ: str
) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL,
           "SECRET_KEY": settings.SECRET_KEY, "APIKEY_PEPPER": settings.APIKEY_PEPPER,
           "GATEWAY_SECRET": settings.GATEWAY_SECRET, "TOLLGATE_VAR_DIR": str(tmp_path / "var"),
           # As some tests' environments set it: the server must drop it (gateway/server.py).
           "DJANGO_ALLOW_ASYNC_UNSAFE": "true", **environ}  # fmt: skip
    with open(tmp_path / "auth.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "gateway.server", *argv], cwd=ROOT,
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=preexec_fn)  # fmt: skip


@pytest.fixture
def server(tmp_path, redis_db, free_plan):
    port = free_port()
    process = start_server(tmp_path, "--port", str(port), "--workers", "2")
    wait_for_sole_listener(port, process, what="auth server")
    yield port
    process.terminate()
    assert stopped(process, tmp_path) == 0


def stopped(process: subprocess.Popen[bytes], tmp_path) -> int:
    """The server's exit code after SIGTERM; if it hangs, its log says where (then SIGKILL:
    its auth processes notice their supervisor is gone within a second)."""
    try:
        return process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        log = (tmp_path / "auth.log").read_text(errors="replace")[-4000:]
        pytest.fail(f"the auth server did not stop within 15 s of SIGTERM; its log:\n{log}")


def connect(address: int | str, timeout: float) -> socket.socket:
    """A TCP port on 127.0.0.1, or a unix socket's path."""
    if isinstance(address, int):
        return socket.create_connection(("127.0.0.1", address), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(address)
    return sock


def exchange(address: int | str, raw: bytes, responses: int = 1, timeout: float = 30.0) -> bytes:
    """Send bytes; read `responses` whole responses, or until the server closes."""
    received = b""
    with connect(address, timeout) as sock:
        sock.sendall(raw)
        reader = sock.makefile("rb")
        for _ in range(responses):
            head = b""
            while (line := reader.readline()) not in (b"\r\n", b""):
                head += line
            if not line:
                return received + head  # closed
            length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                           if h.lower().startswith(b"content-length:")), 0)  # fmt: skip
            received += head + b"\r\n" + reader.read(length)
    return received


def auth_request(raw_key: str, secret: str | None = None, uri: str = "/demo/hello", **extra):
    secret = settings.GATEWAY_SECRET if secret is None else secret
    lines = ["GET /gateway/auth HTTP/1.1", "Host: auth", f"X-Gateway-Secret: {secret}",
             "X-Original-Method: GET", f"X-Original-URI: {uri}", "X-Gateway-Product: demo",
             "X-Real-IP: 127.0.0.1", f"Authorization: Bearer {raw_key}",
             *(f"{k}: {v}" for k, v in extra.items())]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse(response: bytes) -> tuple[int, dict[str, str]]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), headers


def test_it_answers_as_the_wsgi_callable_does(server, team):
    raw, _ = make_key(team)
    status, headers = parse(exchange(server, auth_request(raw)))
    assert status == 204
    in_process = ask(raw)  # the same decision through gateway.wsgi, one call later
    assert in_process[0] == 204
    same = ("X-Consumer-Id", "X-Key-Id", "X-Plan", "X-Environment", "X-Endpoint-Group",
            "RateLimit-Limit", "X-Quota-Limit")  # fmt: skip
    assert {h: headers[h] for h in same} == {h: in_process[1][h] for h in same}
    assert int(headers["X-Quota-Remaining"]) == int(in_process[1]["X-Quota-Remaining"]) + 1


def test_first_calls_at_once_each_get_their_own_keys_decision(server, team, user_factory):
    """Keys never seen, called together on connections of their own: their records and
    policies are read in batches (core.first_loads), and no call gets another's answer."""
    from concurrent.futures import ThreadPoolExecutor

    from accounts.models import Account

    others = [
        Account.objects.create_with_owner(f"Team {n}", user_factory(f"u{n}@example.com"))
        for n in range(7)
    ]
    # Five keys an account, each called once: the free plan's quota (5) admits them all.
    made = [make_key(account) for account in (team, *others) for _ in range(5)]
    revoked_raw, revoked = make_key(team)
    revoked.revoke()
    raws = [raw for raw, _ in made] + [revoked_raw, "tg_live_" + "x" * 40]
    with ThreadPoolExecutor(len(raws)) as pool:
        answers = list(pool.map(lambda raw: parse(exchange(server, auth_request(raw))), raws))
    assert [(status, headers["X-Key-Id"]) for status, headers in answers[:40]] == [
        (204, key.public_id) for _, key in made
    ]
    assert [headers["X-Consumer-Id"] for _, headers in answers[:40]] == [
        str(key.account_id) for _, key in made
    ]
    assert [(s, h["X-Deny-Reason"]) for s, h in answers[40:]] == [
        (401, "inactive_key"),
        (401, "invalid_key"),
    ]


def test_refusals_keep_the_connection_alive_with_an_empty_body(server, team):
    raw, _ = make_key(team)
    calls = auth_request("tg_live_" + "x" * 40) + auth_request(raw)  # pipelined: answered in order
    first, second = exchange(server, calls, responses=2).split(b"\r\n\r\n")[:2]
    assert parse(first + b"\r\n\r\n") == (401, {"X-Deny-Reason": "invalid_key",
                                                "Content-Length": "0"})  # fmt: skip
    assert second.startswith(b"HTTP/1.1 204 No Content\r\n")


def test_without_the_secret_there_is_nothing_here(server, team):
    raw, _ = make_key(team)
    for secret in ("", "wrong", settings.GATEWAY_SECRET + "x"):
        status, _ = parse(exchange(server, auth_request(raw, secret=secret)))
        assert status == 404
    # The secret under a name with underscores is not the X-Gateway-Secret header.
    smuggled = auth_request(raw, secret="").replace(
        b"X-Gateway-Secret: \r\n", f"X_Gateway_Secret: {settings.GATEWAY_SECRET}\r\n".encode()
    )
    assert parse(exchange(server, smuggled))[0] == 404
    assert parse(exchange(server, b"GET /admin/ HTTP/1.1\r\nHost: a\r\n\r\n"))[0] == 404


def test_header_names_are_read_in_any_case_and_their_cache_stays_bounded(server, team):
    from gateway.worker import HeaderNames

    names = HeaderNames()
    for n in range(HeaderNames.LIMIT * 3):  # a client's made-up names, each in a new spelling
        names[f"X-Junk-{n}".encode()]
    assert len(names) == HeaderNames.LIMIT
    # Past the bound names are still converted, only not kept; underscores still mean nothing.
    assert names[b"x-GATEWAY-secret"] == "HTTP_X_GATEWAY_SECRET"
    assert names[b"X_Gateway_Secret"] is None
    assert len(names) == HeaderNames.LIMIT
    raw, _ = make_key(team)
    respelled = auth_request(raw).replace(b"X-Gateway-Secret:", b"x-gAtEwAy-SECRET:")
    assert parse(exchange(server, respelled))[0] == 204


def test_probes_answer_on_the_auth_server(server):
    status, headers = parse(exchange(server, b"GET /livez HTTP/1.1\r\nHost: a\r\n\r\n"))
    assert (status, headers["Content-Type"]) == (200, "application/json")
    response = exchange(server, b"GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n")
    assert parse(response)[0] in (200, 503)  # the broker may be absent here; it answered
    assert b'"database"' in response
    post = b"POST /livez HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
    assert parse(exchange(server, post))[0] == 405


def probe(*argv: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """The image's health check of the auth container (gateway/probe.py)."""
    env = {k: v for k, v in os.environ.items() if k not in ("AUTH_SOCKET", "AUTH_PORT")}
    command = [sys.executable, "-m", "gateway.probe", *argv]
    return subprocess.run(
        command, cwd=ROOT, env={**env, **environ}, capture_output=True, text=True, timeout=30
    )


def test_the_health_check_asks_the_auth_server_on_its_tcp_port(server):
    assert probe("/livez", AUTH_PORT=str(server), AUTH_SOCKET="").returncode == 0
    refused = probe("/gateway/auth", AUTH_PORT=str(server))  # no secret: a 404
    assert refused.returncode == 1
    assert refused.stderr == "auth server probe: /gateway/auth answered 404\n"
    # What an operator could mistype: a clear line and exit 1, never a traceback.
    for target, environ in [
        ("/livez", {"AUTH_PORT": "eighty"}),
        ("/live z", {"AUTH_PORT": str(server)}),
    ]:
        mistyped = probe(target, **environ)
        assert mistyped.returncode == 1 and mistyped.stderr.startswith("auth server probe: ")
        assert "Traceback" not in mistyped.stderr


@pytest.mark.parametrize(
    "hostile",
    [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
        b"GET /gateway/auth HTTP/1.1\r\nHost: a\r\nUpgrade: ws\r\nConnection: Upgrade\r\n\r\n",
        b"GET /gateway/auth HTTP/1.1\r\nHost: a\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n",
        b"POST /gateway/auth HTTP/1.1\r\nHost: a\r\nContent-Length: 99999\r\n\r\n" + b"a" * 99_999,
        b"GET /gateway/auth HTTP/1.1\r\nHost: a\r\n" + b"A: b\r\n" * MAX_HEADERS + b"\r\n",
        b"GET /gateway/auth HTTP/1.1\r\n" + b"Host: a\r\n" * (MAX_HEADERS + 1) + b"\r\n",
    ],
    ids=[
        "not http",
        "bad header",
        "upgrade",
        "huge header",
        "huge body",
        "too many headers",
        "one header too many times",
    ],
)
def test_hostile_requests_get_a_400_and_a_closed_connection(server, team, hostile):
    response = exchange(server, hostile)
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n"), response[:100]
    assert b"Connection: close" in response
    raw, _ = make_key(team)  # and the server goes on deciding
    assert parse(exchange(server, auth_request(raw)))[0] == 204


def test_a_head_of_as_many_headers_as_allowed_is_decided(server, team):
    raw, _ = make_key(team)
    own = auth_request(raw).count(b"\r\n") - 2  # the request line and the blank line
    extra = {f"X-Extra-{n}": "x" for n in range(MAX_HEADERS - own)}
    assert parse(exchange(server, auth_request(raw, **extra)))[0] == 204


def test_a_header_value_with_a_line_break_never_reaches_nginx():
    # An endpoint group comes from the seller's OpenAPI document: a path with CR LF in it must
    # not split the answer into headers of its own (response splitting into nginx).
    answer = head(
        204, [("X-Endpoint-Group", "GET /a\r\nX-Consumer-Id: 1"), ("X-Plan", "pro")], True
    )
    assert answer == b"HTTP/1.1 204 No Content\r\nX-Plan: pro\r\n\r\n"


def test_on_a_unix_socket_it_decides_replaces_a_dead_servers_socket_and_cleans_up(
    tmp_path, redis_db, free_plan, team
):
    path = str(tmp_path / "auth.sock")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(path)  # what a server killed with SIGKILL leaves: a socket file nobody listens on
    dead.close()
    process = start_server(tmp_path, "--unix", path, "--workers", "2")
    wait_for(lambda: unix_socket_answers(path), what="auth server on its unix socket")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666  # the secret keeps strangers out
    raw, key = make_key(team)
    status, headers = parse(exchange(path, auth_request(raw)))
    assert (status, headers["X-Key-Id"]) == (204, key.public_id)
    assert parse(exchange(path, auth_request(raw, secret="wrong")))[0] == 404

    second = start_server(tmp_path, "--unix", path, "--workers", "1")
    assert second.wait(timeout=30) != 0  # a live server's socket is not taken over
    assert unix_socket_answers(path)
    assert "an auth server already runs on" in (tmp_path / "auth.log").read_text()
    assert probe("/livez", AUTH_SOCKET=path).returncode == 0  # the image's health check
    assert probe("/gateway/auth", AUTH_SOCKET=path).returncode == 1
    process.terminate()
    assert process.wait(timeout=15) == 0
    assert not os.path.lexists(path)
    gone = probe(AUTH_SOCKET=path)
    assert gone.returncode == 1 and "No such file or directory" in gone.stderr


def test_a_socket_whose_lock_is_held_is_left_to_its_server(tmp_path, redis_db):
    """A server still starting (bound, not yet accepting) refuses connections like a dead one;
    its lock is what tells them apart."""
    import fcntl

    path = tmp_path / "auth.sock"
    starting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    starting.bind(str(path))
    bound = os.stat(path).st_ino
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        process = start_server(tmp_path, "--unix", str(path))
        assert process.wait(timeout=30) != 0
    assert os.stat(path).st_ino == bound  # not unlinked, not bound again
    starting.close()


def test_a_file_that_is_no_socket_is_never_replaced(tmp_path, redis_db):
    path = tmp_path / "auth.sock"
    path.write_text("the operator's")
    process = start_server(tmp_path, "--unix", str(path))
    assert process.wait(timeout=30) != 0
    assert path.read_text() == "the operator's"
