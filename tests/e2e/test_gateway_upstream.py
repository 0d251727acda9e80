from __future__ import annotations

import subprocess
import time

import pytest
import requests

from tests.gateway.stack import GatewayStack, hammer
from tests.gateway.support import make_key, make_plan, make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path, redis_db):
    make_plan("free", [make_product()], is_default=True)
    running = GatewayStack(tmp_path).start()
    yield running
    running.stop()


def test_it_passes_the_body_and_identity_but_not_the_raw_key_upstream(stack, team):
    raw, key = make_key(team)
    answer = requests.post(
        f"{stack.url}/demo/echo", json={"hello": "world", "n": [1, 2]},
        headers={"Authorization": f"Bearer {raw}", "X-API-Key": raw},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    echoed = answer.json()
    assert echoed["body"] == {"hello": "world", "n": [1, 2]}
    seen = echoed["headers"]
    assert seen["X-Consumer-Id"] == str(team.pk)
    assert seen["X-Key-Id"] == key.public_id
    assert seen["X-Plan"] == "free"
    assert seen["X-Environment"] == "live"
    assert raw not in repr(seen)
    assert "Authorization" not in seen
    assert "X-Api-Key" not in seen
    assert "X-Gateway-Secret" not in seen


OVERRIDES = ("X-HTTP-Method-Override", "X-Method-Override", "X-HTTP-Method")


def test_it_decides_on_the_real_method_and_never_passes_an_override_upstream(stack, team):
    post_only, _ = make_key(team, allowed_methods=["POST"])
    overrides = {name: "DELETE" for name in OVERRIDES}
    # The underscore spelling, which WSGI and CGI servers read as the same variable.
    overrides["X_HTTP_Method_Override"] = "DELETE"
    answer = requests.post(
        f"{stack.url}/demo/echo", json={}, headers={"X-API-Key": post_only, **overrides}
    )
    assert answer.status_code == 200, answer.text
    seen = {name.lower() for name in answer.json()["headers"]}
    assert not seen & {name.lower() for name in OVERRIDES}, seen

    get_only, _ = make_key(team, allowed_methods=["GET"])
    override = {"X-API-Key": get_only, "X-HTTP-Method-Override": "GET"}
    assert requests.post(f"{stack.url}/demo/echo", json={}, headers=override).status_code == 403


def test_it_refuses_a_revoked_key_within_one_second(stack, team):
    raw, key = make_key(team)
    url = f"{stack.url}/demo/hello"
    assert requests.get(url, headers={"X-API-Key": raw}).status_code == 200
    key.revoke()  # publishes the invalidation to every gateway process after commit
    revoked_at = time.monotonic()
    while requests.get(url, headers={"X-API-Key": raw}).status_code == 200:
        assert time.monotonic() - revoked_at < 1.0, "revoked key still admitted after 1 s"
        time.sleep(0.05)


def auth_sockets(port: int) -> set[str]:
    """nginx's sockets to the auth server, in any state (TIME_WAIT too): their local ports."""
    out = subprocess.run(["ss", "-tanH", f"dst 127.0.0.1:{port}"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return {line.split()[3] for line in out.splitlines() if line.strip()}


def test_it_reuses_its_auth_connections_in_steady_state(stack, team):
    raw, _ = make_key(team)
    hammer(stack.port, "/demo/hello", raw, total=500, connections=10)  # warm the pools
    before = auth_sockets(stack.auth_port)
    statuses = hammer(stack.port, "/demo/hello", raw, total=3000, connections=10)
    assert statuses[200] == 3000
    assert auth_sockets(stack.auth_port) - before == set()
