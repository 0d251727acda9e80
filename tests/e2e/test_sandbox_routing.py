"""Where test keys' calls go, through the real nginx, decision and mock server (issue 20,
docs/sandbox.md): a `mock` product's test calls are answered from its spec, a sandbox URL's reach
the sandbox (HTTP or HTTPS), a `live` product's reach the live upstream; live keys always reach
the live upstream, and no spelling of a path takes a test key to a live upstream it must not
reach."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import requests
from django.db.models import Sum

from catalog.models import ApiProduct
from catalog.signals import catalog_applied
from portal.redis_client import get_redis
from tests.e2e.test_gateway_hostile_paths import ATTACKS, LEGIT, send
from tests.e2e.tls import ThrowawayCA
from tests.gateway.stack import GatewayStack
from tests.gateway.support import make_key, make_plan, make_product
from tests.gateway.upstreams import RecordingUpstream
from usage.flush import flush
from usage.models import HourlyUsage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DEMO_SPEC = json.loads((Path(__file__).parents[2] / "deploy/demo/openapi.json").read_text())
PRODUCTS = ("demo", "staging", "secure", "plain")  # mock, HTTP sandbox, HTTPS sandbox, live


@pytest.fixture
def upstreams(tmp_path):
    ca = ThrowawayCA(tmp_path)
    tls = ca.issue("sandbox", ["localhost"])
    with (
        RecordingUpstream("live") as live,
        RecordingUpstream("sandbox") as sandbox,
        RecordingUpstream("secure-sandbox", tls=tls) as secure,
    ):
        yield {"live": live, "sandbox": sandbox, "secure": secure, "ca": ca}


@pytest.fixture
def stack(tmp_path, redis_db, upstreams, settings):
    settings.GATEWAY_UPSTREAM_CA_BUNDLE = str(upstreams["ca"].path)
    live = upstreams["live"].url()
    products = [
        make_product("demo", "/demo/", openapi_spec=DEMO_SPEC, test_route="mock"),
        make_product("staging", "/staging/", test_route=upstreams["sandbox"].url()),
        # By name: the certificate is for localhost, and nginx checks it against the CA.
        make_product("secure", "/secure/", test_route=upstreams["secure"].url("localhost")),
        make_product("plain", "/plain/"),
    ]
    make_plan("free", products, is_default=True, requests_per_second=1000,
              requests_per_minute=100000, requests_per_period=100000)  # fmt: skip
    running = GatewayStack(tmp_path, GATEWAY_TEST_KEY_RPS="1000", GATEWAY_TEST_KEY_RPM="100000")
    running.upstreams = [f"{slug}={live}" for slug in PRODUCTS]
    running.start()
    yield running
    running.stop()


def call(stack, key, method, path, **kwargs):
    headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{stack.url}{path}", headers=headers, timeout=10, **kwargs)


def test_a_test_key_on_a_mock_product_gets_the_specs_answers_and_never_the_live_api(
    stack, team, upstreams
):
    test_key, _ = make_key(team, "test")
    hello = call(stack, test_key, "GET", "/demo/hello")
    assert hello.status_code == 200, hello.text
    assert hello.json() == {"message": "Hello from the demo API", "plan": "free"}  # its example
    assert hello.headers["Tollgate-Environment"] == "mock"
    # Readable by the docs' "Try it" in the browser, as the limits headers are.
    assert "Tollgate-Environment" in hello.headers["Access-Control-Expose-Headers"]
    assert hello.headers["X-Quota-Remaining"]  # the gateway's headers, as on live calls

    # A body the spec forbids (echo takes an object): 400 with the validation message.
    refused = call(stack, test_key, "POST", "/demo/echo", json=[1, 2])
    assert refused.status_code == 400
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["detail"] == "[1, 2] is not of type 'object'"
    missing = call(stack, test_key, "POST", "/demo/echo")
    assert (missing.status_code, missing.json()["detail"]) == (400, "RequestBody is required")
    assert call(stack, test_key, "POST", "/demo/echo", json={"a": 1}).status_code == 200

    # Prefer: code=… picks another documented response; an undocumented one is said so.
    not_found = call(stack, test_key, "GET", "/demo/items/7", headers={"Prefer": "code=404"})
    assert not_found.status_code == 404
    assert not_found.json() == {"code": "not_found", "message": "No item 4242"}
    assert call(stack, test_key, "GET", "/demo/items/7").json() == {"id": 42, "name": "Item 42"}
    teapot = call(stack, test_key, "GET", "/demo/items/7", headers={"Prefer": "code=418"})
    assert teapot.status_code == 422
    assert "documented: 200, 404" in teapot.json()["detail"]
    # An operation without an example answers from its schema.
    assert call(stack, test_key, "GET", "/demo/reports").json() == {}

    assert upstreams["live"].seen == []


def test_a_live_key_always_reaches_the_live_upstream(stack, team, upstreams):
    live_key, _ = make_key(team, "live")
    for slug in PRODUCTS:
        answer = call(stack, live_key, "GET", f"/{slug}/hello")
        assert answer.status_code == 200, (slug, answer.text)
        assert answer.json()["upstream"] == "live", slug
        assert answer.headers["Tollgate-Environment"] == "live"  # ours, never the upstream's
    assert [path for _, path, _ in upstreams["live"].seen] == [f"/{s}/hello" for s in PRODUCTS]
    assert upstreams["sandbox"].seen == upstreams["secure"].seen == []


def test_a_test_key_reaches_the_sandbox_over_http_and_https_or_the_live_api_when_chosen(
    stack, team, upstreams
):
    test_key, key = make_key(team, "test")
    for slug, upstream, environment in [
        ("staging", "sandbox", "sandbox"), ("secure", "secure-sandbox", "sandbox"),
        ("plain", "live", "live"),
    ]:  # fmt: skip
        answer = call(stack, test_key, "POST", f"/{slug}/orders?x=1", json={"n": 1})
        assert answer.status_code == 200, (slug, answer.text)
        assert answer.json() == {"upstream": upstream, "raw": f"/{slug}/orders?x=1"}
        assert answer.headers["Tollgate-Environment"] == environment
    ((_, _, headers),) = upstreams["secure"].seen
    assert headers["Host"] == "localhost"  # its own name, as over TLS to a live upstream
    assert headers["X-Environment"] == "test" and headers["X-Key-Id"] == key.public_id
    assert "Authorization" not in headers
    assert [p for _, p, _ in upstreams["sandbox"].seen] == ["/staging/orders?x=1"]
    assert [p for _, p, _ in upstreams["live"].seen] == ["/plain/orders?x=1"]


def test_hostile_spellings_never_take_a_test_key_to_a_live_upstream(stack, team, upstreams):
    test_key, _ = make_key(team, "test")
    targets = ATTACKS + LEGIT + [b"/demo/reports", b"/demo/hello?x=/../../plain/hello"]
    for prefix in (b"/staging", b"/secure"):
        targets += [t.replace(b"/demo", prefix).replace(b"/premium", b"/plain") for t in targets]
    targets += [b"/staging/../plain/x", b"/Staging/x", b"/staging%2f../plain/x",
                b"/plain/../demo/x"]  # fmt: skip
    for target in targets:
        status, _, _ = send(stack.port, target, test_key)
        assert status < 500, (target, status)
    # The only calls the live upstream saw are the ones whose path is the live product's.
    for _, path, _ in upstreams["live"].seen:
        assert path.startswith("/plain/"), path
        assert ".." not in path and "%" not in path, path


def test_test_calls_to_the_mock_and_sandbox_count_as_test_traffic(stack, team):
    test_key, key = make_key(team, "test")
    for path in ("/demo/hello", "/demo/items/3", "/staging/x", "/secure/x"):
        assert call(stack, test_key, "GET", path).status_code == 200
    flush(get_redis())
    rows = HourlyUsage.objects.filter(account=team, key_id=key.public_id)
    assert {row.environment for row in rows} == {"test"}
    assert rows.filter(outcome="ok").aggregate(n=Sum("count"))["n"] == 4
    by_product = dict(rows.values_list("product").annotate(n=Sum("count")))
    assert by_product == {"demo": 2, "staging": 1, "secure": 1}


def test_the_mock_follows_a_catalog_change(stack, team, upstreams):
    test_key, _ = make_key(team, "test")
    assert call(stack, test_key, "GET", "/demo/hello").status_code == 200
    spec = json.loads(json.dumps(DEMO_SPEC))
    hello = spec["paths"]["/hello"]["get"]["responses"]["200"]["content"]["application/json"]
    hello["example"] = {"message": "changed", "plan": "free"}
    ApiProduct.objects.filter(slug="demo").update(openapi_spec=spec)
    catalog_applied.send(sender=None, plans=[], products=[])  # as apply_catalog does
    deadline_checks = 50
    while call(stack, test_key, "GET", "/demo/hello").json()["message"] != "changed":
        deadline_checks -= 1
        assert deadline_checks, "the mock still serves the old spec after 5 s"
        time.sleep(0.1)
    assert upstreams["live"].seen == []


@pytest.fixture
def stack_with_a_careless_auth(tmp_path, redis_db, upstreams):
    mocked = make_product("demo", "/demo/", openapi_spec=OPEN_SPEC, test_route="mock")
    staging = make_product("staging", "/staging/", test_route=upstreams["sandbox"].url())
    make_plan("free", [mocked, staging], is_default=True)
    running = GatewayStack(tmp_path)
    running.auth_app = "tests.gateway.upstreams:environment_echoing_auth"
    running.upstreams = [f"{slug}={upstreams['live'].url()}" for slug in ("demo", "staging")]
    running.start()
    yield running
    running.stop()


# Any path under /env/ answers 200 from this spec's mock.
OPEN_SPEC = {
    "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
    "paths": {"/env/{said}": {"get": {
        "parameters": [{"name": "said", "in": "path", "required": True,
                        "schema": {"type": "string"}}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {
            "example": {"from": "mock"}}}}},
    }}},
}  # fmt: skip


def test_an_environment_other_than_live_or_none_at_all_never_reaches_the_live_upstream(
    stack_with_a_careless_auth, upstreams
):
    stack = stack_with_a_careless_auth
    for said in ("none", "", "Test", "LIVE", "live ", "test", "sandbox"):
        for slug, answered_by in (("demo", "mock"), ("staging", "sandbox")):
            answer = requests.get(f"{stack.url}/{slug}/env/{said}", timeout=10)
            # (The mock's spec has no /env/ with an empty segment: its 404.)
            assert answer.status_code == (404 if (slug, said) == ("demo", "") else 200), said
            assert answer.headers["Tollgate-Environment"] == answered_by, (slug, said)
    assert upstreams["live"].seen == []
    # The same gateway does send a call the decision calls live to the live upstream.
    assert requests.get(f"{stack.url}/staging/env/live", timeout=10).json()["upstream"] == "live"
