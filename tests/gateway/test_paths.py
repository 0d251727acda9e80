"""The decision judges only canonical paths, prefixes end on segment boundaries, and nginx's
routing must agree with the catalog's (docs/gateway-paths.md)."""

from __future__ import annotations

import pytest

from tests.gateway.support import ask, make_key, make_plan, make_product

pytestmark = pytest.mark.usefixtures("redis_db", "free_plan")

ATTACKS = [
    "/demo/hello/../reports",
    "/demo/hello/%2e%2e/reports",
    "/demo/hello/%2E%2e/reports",
    "/demo/hello/..%2Freports",
    "/demo/hello/..;/reports",
    "/demo/hello/%252e%252e/reports",
    "/demo/hello/%C0%AE%C0%AE/reports",
    "/demo/hello\\..\\reports",
    "/demo/hello//../reports",
    "/demo/hello/../../premium/data",
    "/demo/hello#/../reports",
    "/%64emo/reports",
]


@pytest.mark.parametrize("uri", ATTACKS)
def test_it_refuses_a_path_with_more_than_one_reading_before_looking_at_the_key(team, uri):
    raw, _ = make_key(team)
    for key in (raw, None, "nonsense"):
        status, headers, _ = ask(key, uri=uri)
        assert (status, headers["X-Deny-Reason"]) == (403, "invalid_path")
    # Nothing was counted: the free plan's quota of 5 is whole.
    assert ask(raw)[1]["X-Quota-Remaining"] == "4"


def test_it_admits_a_canonical_path_with_any_query(team):
    raw, _ = make_key(team)
    assert ask(raw, uri="/demo/hello?next=../reports&x=%2e%2e%2F")[0] == 204


def test_plan_prefixes_end_on_segment_boundaries(team, product):
    team.plan = make_plan("narrow", [(product, [], ["/demo/hello", "/demo/items/"])])
    team.save()
    raw, _ = make_key(team)
    assert [ask(raw, uri=u)[0] for u in ("/demo/hello", "/demo/hello/x", "/demo/items")] == [
        204, 204, 204,
    ]  # fmt: skip
    for uri in ("/demo/hellox", "/demo/hello.json", "/demo/itemsx/1", "/demo/reports"):
        assert ask(raw, uri=uri)[1]["X-Deny-Reason"] == "forbidden", uri


def test_key_prefixes_end_on_segment_boundaries(team):
    raw, _ = make_key(team, allowed_path_prefixes=["/demo/items"])
    assert ask(raw, uri="/demo/items/3")[0] == 204
    assert ask(raw, uri="/demo/itemsx")[1]["X-Deny-Reason"] == "forbidden"


def test_product_prefixes_end_on_segment_boundaries(team, product):
    # A prefix stored before prefixes were checked at input (no trailing slash) still cannot
    # claim a neighbour's paths.
    legacy = make_product("legacy", "/v1")
    team.plan = make_plan("all", [product, legacy])
    team.save()
    raw, _ = make_key(team)
    assert ask(raw, uri="/v1/x", product="legacy")[0] == 204
    assert ask(raw, uri="/v1x/x", product="legacy")[1]["X-Deny-Reason"] == "forbidden"


@pytest.mark.parametrize("routed", ["premium", "", "demo "])
def test_it_refuses_a_call_nginx_routed_to_another_product(team, routed):
    make_product("premium", "/premium/")
    raw, _ = make_key(team)
    status, headers, _ = ask(raw, uri="/demo/hello", product=routed)
    assert (status, headers["X-Deny-Reason"]) == (403, "forbidden")
