"""The usage hash fields the gateway writes, read back as calls and units."""

from __future__ import annotations

from usage.counters import Tally, parse_counts, parse_usage


def test_weighted_fields_multiply_and_refusals_consume_nothing():
    raw = {
        b"key_1|demo|POST /reports|ok|10": b"3",  # 3 calls of a 10-unit operation
        b"key_1|demo|POST /reports|ok": b"2",  # 2 calls from before its cost was set
        b"key_1|demo|POST /reports|rate_limited": b"4",
        b"key_1|demo|GET /hello|ok": b"5",  # the previous release's fields: 1 unit each
    }
    assert parse_usage(raw) == {
        ("key_1", "demo", "POST /reports", "ok"): Tally(5, 32),
        ("key_1", "demo", "POST /reports", "rate_limited"): Tally(4, 0),
        ("key_1", "demo", "GET /hello", "ok"): Tally(5, 5),
    }
    assert parse_counts(raw)[("key_1", "demo", "POST /reports", "ok")] == 5
