"""A flood of forged keys (well formed: the checksum is a public CRC32) through the decision:
each client address has the database look up at most GATEWAY_UNKNOWN_KEYS_PER_ADDRESS keys no
cache knows per window; beyond it its misses are refused (429 through nginx) without a query,
while other addresses' first loads and every cached key go on as before."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apikeys import keys, records
from tests.gateway.support import ask, make_key, make_plan
from tests.helpers import wait_for

pytestmark = pytest.mark.usefixtures("redis_db", "free_plan")

ATTACKER = "203.0.113.7"


@pytest.fixture
def free_plan(product):
    """Without the gateway tests' quota of 5: the calls here are refused for their keys only."""
    return make_plan("free", [product], is_default=True)


@pytest.fixture(autouse=True)
def budget_of_ten(settings):
    settings.GATEWAY_UNKNOWN_KEYS_PER_ADDRESS = 10
    records.listener.ensure_running()  # before: starting, it empties the caches
    wait_for(lambda: records.listener.connected, what="the invalidation listener")


def forged() -> str:
    return keys.generate("live")


def flood(count: int, ip: str = ATTACKER) -> tuple[list[tuple[int, str]], int]:
    """(status, reason) of each forged key's call, and the database queries they took."""
    with CaptureQueriesContext(connection) as queries:
        answers = [ask(forged(), ip=ip)[:2] for _ in range(count)]
    return [(status, headers["X-Deny-Reason"]) for status, headers in answers], len(queries)


def test_a_flood_from_one_address_costs_at_most_its_budget_in_queries():
    answers, queries = flood(50)
    assert queries == 10  # one per key up to the budget (off the loop: read in place)
    assert answers[:10] == [(401, "invalid_key")] * 10
    assert answers[10:] == [(403, "rate_limited")] * 40  # nginx: 429 with Retry-After


def test_a_refusal_says_when_to_retry():
    flood(10)
    status, headers, _ = ask(forged(), ip=ATTACKER)
    assert (status, headers["X-Deny-Reason"]) == (403, "rate_limited")
    assert 1 <= int(headers["Retry-After"]) <= 10  # the window's end


def test_the_flooding_address_keeps_its_cached_keys_and_others_keep_their_first_loads(team):
    raw, _ = make_key(team)
    assert ask(raw, ip=ATTACKER)[0] == 204  # cached before the flood
    flood(50)
    with CaptureQueriesContext(connection) as queries:
        assert ask(raw, ip=ATTACKER)[0] == 204  # a hit never spends anything
    assert len(queries) == 0
    new_raw, _ = make_key(team)
    assert ask(new_raw, ip="198.51.100.2")[0] == 204  # another address: read as before


def test_found_keys_give_their_lookup_back(team):
    """Only unknown keys use the budget up: a client bringing many real keys is never refused."""
    raws = [make_key(team)[0] for _ in range(25)]
    assert [ask(raw, ip=ATTACKER)[0] for raw in raws] == [204] * 25


def test_one_ipv6_subnet_shares_a_budget():
    """An IPv6 host usually holds a whole /64: counted per address, it would have 2^64 budgets."""
    answers = [ask(forged(), ip=f"2001:db8:1:2::{n:x}")[1]["X-Deny-Reason"] for n in range(12)]
    assert answers == ["invalid_key"] * 10 + ["rate_limited"] * 2
    assert ask(forged(), ip="2001:db8:1:3::1")[1]["X-Deny-Reason"] == "invalid_key"


def test_no_limit_when_set_to_zero(settings):
    settings.GATEWAY_UNKNOWN_KEYS_PER_ADDRESS = 0
    answers, queries = flood(30)
    assert queries == 30 and {reason for _, reason in answers} == {"invalid_key"}


def test_a_repeated_unknown_key_spends_nothing():
    """A client stuck on one wrong key is answered from the unknown keys' map."""
    fake = forged()
    answers = [ask(fake, ip=ATTACKER)[1]["X-Deny-Reason"] for _ in range(30)]
    assert answers == ["invalid_key"] * 30
    assert records.lookup(fake) is None
