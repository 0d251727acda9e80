"""Weighted endpoints and per-endpoint limits, as the decision applies them."""

from __future__ import annotations

import pytest
import time_machine

from catalog.models import ApiProduct
from gateway.policy import catalog
from tests.gateway.support import ask, make_key, make_plan, make_product

SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {
        "/hello": {"get": {}},
        "/reports": {"get": {}, "post": {}},
        "/reports/summary": {"get": {}},
        "/reports/{id}": {"get": {}},
    },
}
OPERATIONS = [
    {"method": "POST", "path": "/reports", "cost": 10, "requests_per_minute": 3},
    {"method": "GET", "path": "/reports/{id}", "cost": 5},
    # Not in the spec: the catalog's own operation.
    {"method": "GET", "path": "/exports/{id}/download", "cost": 7},
    # A custom method (Google's style) and a handle: characters a path may carry plain.
    {"method": "POST", "path": "/images:annotate", "cost": 20, "requests_per_minute": 2},
    {"method": "GET", "path": "/users/@me/quota", "cost": 3},
]
NOW = 1_800_000_010

pytestmark = pytest.mark.usefixtures("redis_db")


@pytest.fixture
def weighted(db):
    product = make_product(openapi_spec=SPEC, operations=OPERATIONS)
    make_plan(
        "free", [product], is_default=True,
        requests_per_second=100, requests_per_minute=1000, requests_per_period=100,
    )  # fmt: skip
    return product


def endpoint(method: str, path: str):
    product = catalog.product_for(path)
    assert product is not None
    return product.endpoint_for(method, path)


@pytest.mark.parametrize(
    ("method", "path", "group", "cost"),
    [
        ("POST", "/demo/reports", "POST /reports", 10),
        ("GET", "/demo/reports", "GET /reports", 1),
        ("GET", "/demo/reports/7", "GET /reports/{id}", 5),
        # The literal wins over the parameter, as upstreams route it.
        ("GET", "/demo/reports/summary", "GET /reports/summary", 1),
        ("GET", "/demo/exports/9/download", "GET /exports/{id}/download", 7),
        ("GET", "/demo/hello", "GET /hello", 1),
        ("GET", "/demo/nowhere", "other", 1),
    ],
)
def test_each_call_is_charged_as_its_operation(weighted, method, path, group, cost):
    found = endpoint(method, path)
    assert (found.group, found.cost) == (group, cost)


@pytest.mark.parametrize(
    ("method", "path", "group", "cost"),
    [
        # Spellings some upstreams route to the expensive operation are charged as it.
        ("POST", "/demo/REPORTS", "POST /reports", 10),
        ("POST", "/demo/Reports", "POST /reports", 10),
        ("POST", "/demo/reports/", "POST /reports", 10),
        ("POST", "/demo/rEpOrTs/", "POST /reports", 10),
        ("GET", "/demo/reports/7/", "GET /reports/{id}", 5),
        ("HEAD", "/demo/reports/7", "GET /reports/{id}", 5),
        ("GET", "/demo/EXPORTS/9/Download", "GET /exports/{id}/download", 7),
        # "SUMMARY" is the cheap literal to a case-blind upstream, an id to a case-sensitive
        # one: the dearer reading wins.
        ("GET", "/demo/reports/SUMMARY", "GET /reports/{id}", 5),
    ],
)
def test_no_spelling_reaches_an_expensive_operation_cheaply(weighted, method, path, group, cost):
    found = endpoint(method, path)
    assert (found.group, found.cost) == (group, cost)


def test_a_weighted_call_takes_its_cost_from_the_quota_and_says_so(weighted, team):
    raw, _ = make_key(team)
    with time_machine.travel(NOW, tick=False):
        status, headers, _ = ask(raw, "POST", "/demo/reports")
        assert status == 204
        assert (headers["X-Quota-Limit"], headers["X-Quota-Remaining"]) == ("100", "90")
        status, headers, _ = ask(raw, "GET", "/demo/hello")
        assert (status, headers["X-Quota-Remaining"]) == (204, "89")


def test_a_hard_cap_refuses_a_call_whose_units_do_not_fit(weighted, team):
    raw, _ = make_key(team)
    with time_machine.travel(NOW, tick=False):
        for _ in range(95):
            assert ask(raw, "GET", "/demo/hello")[0] == 204
    with time_machine.travel(NOW + 120, tick=False):
        status, headers, _ = ask(raw, "POST", "/demo/reports")
        # 5 units left, the call needs 10: refused, and it consumed nothing.
        assert (status, headers["X-Deny-Reason"]) == (403, "quota_exceeded")
        assert headers["X-Quota-Remaining"] == "5"
        for _ in range(5):
            assert ask(raw, "GET", "/demo/hello")[0] == 204
        status, headers, _ = ask(raw, "GET", "/demo/hello")
        assert (status, headers["X-Deny-Reason"], headers["X-Quota-Remaining"]) == (
            403, "quota_exceeded", "0",
        )  # fmt: skip


def test_an_endpoint_limit_counts_calls_and_leaves_other_endpoints_alone(weighted, team):
    raw, _ = make_key(team)
    with time_machine.travel(NOW, tick=False):
        remaining = []
        for _ in range(3):
            status, headers, _ = ask(raw, "POST", "/demo/reports")
            assert status == 204
            remaining.append(headers["RateLimit-Remaining"])
        # The endpoint's own window is the one closest to refusing: the headers describe it.
        assert remaining == ["2", "1", "0"]
        assert headers["RateLimit-Limit"] == "3"
        status, headers, _ = ask(raw, "POST", "/demo/REPORTS/")
        assert (status, headers["X-Deny-Reason"]) == (403, "rate_limited")
        assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("3", "0")
        assert int(headers["Retry-After"]) >= 1
        # Refused: no units taken (3 calls of 10 so far).
        assert headers["X-Quota-Remaining"] == "70"
        status, headers, _ = ask(raw, "GET", "/demo/hello")
        assert status == 204
        assert (headers["RateLimit-Limit"], headers["RateLimit-Remaining"]) == ("1000", "996")
    # Once the calls' 6 s bucket (from ...008) has left the rolling minute, at ...072.
    with time_machine.travel(NOW + 62, tick=False):
        assert ask(raw, "POST", "/demo/reports")[0] == 204


@pytest.mark.parametrize(
    ("uri", "cost"),
    [
        ("/demo/images:annotate", 20),
        # An escape of a character a path may carry plain is that character to every upstream.
        ("/demo/images%3Aannotate", 20),
        ("/demo/IMAGES%3AANNOTATE/", 20),
        ("/demo/images%3Aannotate?x=%3A", 20),
    ],
)
def test_an_escaped_spelling_is_charged_and_limited_as_its_operation(weighted, team, uri, cost):
    raw, _ = make_key(team)
    with time_machine.travel(NOW, tick=False):
        for remaining in ("1", "0"):
            status, headers, _ = ask(raw, "POST", uri)
            assert (status, headers["RateLimit-Remaining"]) == (204, remaining)
        assert headers["X-Quota-Remaining"] == str(100 - 2 * cost)
        status, headers, _ = ask(raw, "POST", "/demo/images%3Aannotate")
        assert (status, headers["X-Deny-Reason"]) == (403, "rate_limited")


@pytest.mark.parametrize(
    "uri", ["/demo/users/@me/quota", "/demo/users/%40me/quota", "/demo/users/%40ME/quota/"]
)
def test_an_escaped_at_sign_reaches_its_operation(weighted, team, uri):
    raw, _ = make_key(team)
    with time_machine.travel(NOW, tick=False):
        status, headers, _ = ask(raw, "GET", uri)
    assert (status, headers["X-Quota-Remaining"]) == (204, "97")


def test_operations_change_with_the_catalog(weighted, team):
    raw, _ = make_key(team)
    ApiProduct.objects.filter(pk=weighted.pk).update(
        operations=[{"method": "POST", "path": "/reports", "cost": 2}]
    )
    catalog.clear()
    with time_machine.travel(NOW, tick=False):
        status, headers, _ = ask(raw, "POST", "/demo/reports")
    assert (status, headers["X-Quota-Remaining"]) == (204, "98")


def test_test_keys_pay_units_too(weighted, team):
    raw, _ = make_key(team, environment="test")
    with time_machine.travel(NOW, tick=False):
        status, headers, _ = ask(raw, "POST", "/demo/reports")
    assert status == 204
    assert int(headers["X-Quota-Limit"]) - int(headers["X-Quota-Remaining"]) == 10


def test_a_template_in_capitals_still_catches_every_spelling(db):
    make_product(
        openapi_spec=None, operations=[{"method": "GET", "path": "/Exports/{id}", "cost": 4}]
    )
    for path in ("/demo/Exports/1", "/demo/exports/1", "/demo/EXPORTS/1/"):
        assert endpoint("GET", path).cost == 4, path
    assert endpoint("GET", "/demo/exports/1/x").cost == 1
