from __future__ import annotations

import http.client
import json
import subprocess
import time

import pytest
import requests

from catalog.models import ApiProduct
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


def test_a_client_s_made_up_headers_reach_the_upstream_but_not_the_auth_server(stack, team):
    raw, _ = make_key(team)
    some = {f"X-Junk-{n}": "j" for n in range(60)}
    answer = requests.post(f"{stack.url}/demo/echo", json={}, headers={**some, "X-API-Key": raw})
    assert answer.status_code == 200, answer.text
    assert answer.json()["headers"]["X-Junk-59"] == "j"  # the API's, as sent
    # 800: the auth server refuses a head of more than 100 (each header costs its loop a parser
    # callback), so these calls are decided only because nginx sends it the key alone. The
    # admitted ones reach the demo API, whose server (granian) answers 431 to that many.
    many = {f"X-Junk-{n}": "j" for n in range(800)}
    for key in ({"Authorization": f"Bearer {raw}"}, {"X-API-Key": raw}):
        answer = requests.post(f"{stack.url}/demo/echo", json={}, headers={**many, **key})
        assert answer.status_code == 431, answer.text
    no_key = requests.post(f"{stack.url}/demo/echo", json={}, headers=many)
    assert (no_key.status_code, no_key.json()["code"]) == (401, "missing_key")


def test_a_key_sent_twice_is_judged_as_the_upstream_receives_it(tmp_path, redis_db, settings, team):
    # nginx reads X-API-Key for the auth server ($http_x_api_key: before nginx 1.23 the first
    # of several, from 1.23 all of them joined, which is no key); with the key passed on, the
    # upstream must receive that same value, not the client's two headers.
    settings.GATEWAY_STRIP_KEY = False
    make_plan("free", [make_product()], is_default=True)
    running = GatewayStack(tmp_path).start()
    try:
        first, key = make_key(team)
        second, _ = make_key(team)
        host, port = running.url.removeprefix("http://").split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        connection.putrequest("POST", "/demo/echo")
        for raw in (first, second):
            connection.putheader("X-API-Key", raw)
        connection.putheader("Content-Length", "2")
        connection.endheaders(b"{}")
        answer = connection.getresponse()
        body = json.loads(answer.read())
        # A Bearer key and another in X-API-Key: the Bearer one is judged, and the upstream
        # receives only it (never a key it might read as the caller's, unjudged).
        other, _ = make_key(team, name="never judged")
        both = requests.post(f"{running.url}/demo/echo", json={}, headers={
            "Authorization": f"Bearer {first}", "X-API-Key": other})  # fmt: skip
        # And with no Bearer key, X-API-Key is the judged one and goes on as it came.
        alone = requests.post(f"{running.url}/demo/echo", json={}, headers={
            "Authorization": "Basic dTpw", "X-API-Key": second})  # fmt: skip
    finally:
        running.stop()
    if answer.status == 401:
        assert body["code"] == "invalid_key"
    else:
        assert answer.status == 200, body
        assert (body["headers"]["X-Api-Key"], body["headers"]["X-Key-Id"]) == (first, key.public_id)
    assert both.status_code == 200, both.text
    seen = both.json()["headers"]
    assert (seen["Authorization"], seen["X-Key-Id"]) == (f"Bearer {first}", key.public_id)
    assert "X-Api-Key" not in seen
    assert alone.status_code == 200, alone.text
    assert alone.json()["headers"]["X-Api-Key"] == second


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


# Headers a client may send to tell an upstream who, where and what the call is.
MADE_UP = {
    "X-Forwarded-For": "6.6.6.6",
    "X-Real-IP": "6.6.6.6",
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Port": "443",
    "X-Forwarded-Server": "evil.example",
    "Forwarded": "for=6.6.6.6;host=evil.example;proto=https",
    "X-Original-URL": "/demo/admin",
    "X-Rewrite-URL": "/demo/admin",
    "X-Original-Host": "evil.example",
    "X-Host": "evil.example",
    "X-Original-Method": "DELETE",
    "X-Client-IP": "6.6.6.6",
    "True-Client-IP": "6.6.6.6",
    "X-Endpoint-Group": "free",
}
SET_BY_NGINX = {"x-forwarded-for", "x-real-ip", "x-forwarded-host", "x-forwarded-proto"}


def echo(stack, raw_key, headers, source="127.0.0.1"):
    """POST /demo/echo from the local address `source`: what the upstream received, and the
    environment that answered."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", stack.port, timeout=10, source_address=(source, 0)
    )
    try:
        connection.request("POST", "/demo/echo", body=b"{}", headers={
            "X-API-Key": raw_key, "Content-Type": "application/json", **headers})  # fmt: skip
        answer = connection.getresponse()
        body = json.loads(answer.read())
    finally:
        connection.close()
    assert answer.status == 200, body
    received = {name.lower(): value for name, value in body["headers"].items()}
    return received, answer.getheader("Tollgate-Environment")


def test_an_upstream_receives_only_what_nginx_says_of_the_call(tmp_path, redis_db, team):
    running = GatewayStack(tmp_path)
    # Test keys' calls go to a sandbox, the demo API again: both echo what they received.
    make_product(test_route=f"http://127.0.0.1:{running.demo_port}")
    make_plan("free", ApiProduct.objects.all(), is_default=True)
    running.start()
    try:
        answers = [echo(running, make_key(team, environment)[0], MADE_UP)
                   for environment in ("live", "test")]  # fmt: skip
    finally:
        running.stop()
    assert [environment for _, environment in answers] == ["live", "sandbox"]
    for received, _ in answers:
        assert {name: received.get(name) for name in SET_BY_NGINX} == {
            "x-forwarded-for": "127.0.0.1", "x-real-ip": "127.0.0.1",
            "x-forwarded-host": "127.0.0.1", "x-forwarded-proto": "http"}  # fmt: skip
        made_up_and_passed = {name.lower() for name in MADE_UP} & set(received) - SET_BY_NGINX
        assert not made_up_and_passed, received


def test_behind_a_trusted_proxy_an_upstream_receives_the_client_it_named(
    tmp_path, redis_db, team, settings
):
    settings.GATEWAY_TRUSTED_PROXIES = ["127.0.0.1/32"]  # the load balancer
    make_plan("free", [make_product()], is_default=True)
    running = GatewayStack(tmp_path).start()
    try:
        raw, _ = make_key(team)
        # The client wrote 6.6.6.6; the balancer appended the address it saw, and the scheme.
        forwarded = {"X-Forwarded-For": "6.6.6.6, 203.0.113.9", "X-Forwarded-Proto": "https"}
        via_balancer, _ = echo(running, raw, forwarded)
        # A client that reaches nginx around the balancer: its headers name nothing.
        around, _ = echo(running, raw, forwarded, source="127.0.0.2")
    finally:
        running.stop()
    client = ("x-forwarded-for", "x-real-ip", "x-forwarded-proto")
    assert [via_balancer[name] for name in client] == ["203.0.113.9", "203.0.113.9", "https"]
    assert [around[name] for name in client] == ["127.0.0.2", "127.0.0.2", "http"]


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
