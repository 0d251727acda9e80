from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest
import requests

from tests.helpers import ROOT, free_port, listening, wait_for

pytestmark = pytest.mark.e2e


def healthy(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False


def stack_env(tmp_path, port: int, auth_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    # Every port the stack opens is a free one, so a `make run` on this machine never clashes.
    env.update(
        TOLLGATE_VAR_DIR=str(tmp_path), PORTAL_PORT=str(port), GATEWAY_PORT=str(free_port()),
        DEMO_API_PORT=str(free_port()), STRIPE_SIMULATOR_PORT=str(free_port()),
        AUTH_SERVER_ADDRESS=f"127.0.0.1:{auth_port}",
        MOCK_SERVER_ADDRESS=f"127.0.0.1:{free_port()}",
    )  # fmt: skip
    return env


def test_make_run_serves_the_portal_on_the_embedded_default_and_stops_on_ctrl_c(tmp_path):
    port, auth_port = free_port(), free_port()
    env = stack_env(tmp_path, port, auth_port)
    stack = subprocess.Popen(
        [sys.executable, "manage.py", "runstack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}/healthz"), timeout=90, what="healthz")
        home = requests.get(f"http://127.0.0.1:{port}/")
        assert home.status_code == 200
        # The decision has a server of its own, with the same probes. It starts beside the
        # portal, not after it: on a busy machine it may still be setting Django up.
        wait_for(lambda: healthy(f"http://127.0.0.1:{auth_port}/livez"), timeout=60,
                 what="the auth server")  # fmt: skip
        for server in (port, auth_port):
            assert requests.get(f"http://127.0.0.1:{server}/livez").json() == {"status": "ok"}
            assert requests.get(f"http://127.0.0.1:{server}/readyz").status_code == 200
        assert requests.get(f"http://127.0.0.1:{auth_port}/").status_code == 404
        assert (tmp_path / "db.sqlite3").exists()
        # The demo API's sandbox: a test key gets the answers of its spec, from the mock.
        mock = env["MOCK_SERVER_ADDRESS"]
        wait_for(lambda: healthy(f"http://{mock}/readyz"), timeout=30, what="the mock")
        test_key = subprocess.run(
            [sys.executable, "manage.py", "issue_key", "--account", "demo@example.com",
             "--env", "test"], cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        ).stdout.split()[0]  # fmt: skip
        gateway = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        wait_for(lambda: listening(int(env["GATEWAY_PORT"])), timeout=30, what="nginx")
        hello = requests.get(f"{gateway}/demo/hello", headers={"X-API-Key": test_key})
        assert hello.status_code == 200, hello.text
        assert hello.headers["Tollgate-Environment"] == "mock"
        assert hello.json() == {"message": "Hello from the demo API", "plan": "free"}
    finally:
        stack.send_signal(signal.SIGINT)
        output, _ = stack.communicate(timeout=60)
    assert stack.returncode == 0, output
    assert "demo@example.com / " in output
    # The simulator is up before the demo catalog is applied: no "Stripe unreachable" warning.
    assert "could not mirror" not in output, output
    names = (
        "portal",
        "auth",
        "worker",
        "webhooks",
        "beat",
        "stripe-simulator",
        "demo-api",
        "mock",
        "nginx",
        "collector",
        "redis",
    )
    for name in names:
        assert f"[runstack] stopped {name}" in output
    assert not (tmp_path / "redis.sock").exists()


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "granian-like"])
def test_make_run_refuses_to_start_beside_a_server_on_its_ports(tmp_path, reuse_port):
    """An earlier `make run` still holding the auth port: granian (SO_REUSEPORT) would otherwise
    start all the same and share that port's connections with the old server."""
    port, auth_port = free_port(), free_port()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        squatter.bind(("127.0.0.1", auth_port))
        squatter.listen()
        result = subprocess.run(
            [sys.executable, "manage.py", "runstack"], cwd=ROOT,
            env=stack_env(tmp_path, port, auth_port), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode != 0
    assert f"Already in use: auth on 127.0.0.1:{auth_port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "db.sqlite3").exists()  # refused before migrating anything
    assert not listening(port)
