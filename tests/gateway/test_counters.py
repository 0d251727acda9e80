from __future__ import annotations

import time

import pytest
import time_machine

from core.redis_keys import DIRTY_ACCOUNTS, live_hours_key
from gateway.counting import account_tag
from tests.gateway.support import ask, make_key

pytestmark = pytest.mark.usefixtures("free_plan")


def test_it_counts_usage_per_key_product_endpoint_and_outcome_in_the_hour_hash(team, redis_db):
    raw, key = make_key(team)
    with time_machine.travel(1_800_000_000, tick=False):
        for uri in ["/demo/hello", "/demo/items/7", "/demo/items/8", "/demo/nope", "/demo/hello",
                    "/demo/hello"]:  # fmt: skip
            ask(raw, uri=uri)
    hour = time.strftime("%Y%m%d%H", time.gmtime(1_800_000_000))
    usage = redis_db.hgetall(f"{account_tag(team.pk)}:use:{hour}")
    assert {k.decode(): int(v) for k, v in usage.items()} == {
        f"{key.public_id}|demo|GET /hello|ok": 2,
        f"{key.public_id}|demo|GET /items/{{id}}|ok": 2,
        f"{key.public_id}|demo|other|ok": 1,
        f"{key.public_id}|demo|GET /hello|quota_exceeded": 1,
    }


def test_it_counts_test_keys_in_a_separate_hash_that_is_never_billed(team, redis_db):
    raw, _ = make_key(team, environment="test")
    ask(raw)
    tag = account_tag(team.pk)
    names = {name.decode() for name in redis_db.scan_iter(f"{tag}:*use:*")}
    assert len(names) == 1
    assert next(iter(names)).startswith(f"{tag}:test-use:")


def test_it_keeps_every_key_of_an_account_under_one_hash_tag(team, redis_db):
    raw, _ = make_key(team)
    ask(raw)
    names = {name.decode() for name in redis_db.scan_iter("tg:*")} - {DIRTY_ACCOUNTS}
    assert names and all(name.startswith(f"tg:{{acct:{team.pk}}}:") for name in names)


def test_a_new_usage_hash_registers_with_its_account_and_marks_it_dirty(team, redis_db):
    raw, _ = make_key(team)
    with time_machine.travel(1_800_000_000, tick=False):
        ask(raw)
        redis_db.delete(DIRTY_ACCOUNTS)  # as the flush takes it
        ask(raw)  # same hash: no new mark
    assert not redis_db.exists(DIRTY_ACCOUNTS)
    with time_machine.travel(1_800_003_600, tick=False):
        ask(raw)  # the next hour's hash
    hours = {name.decode() for name in redis_db.smembers(live_hours_key(team.pk))}
    assert hours == {f"{account_tag(team.pk)}:use:{h}" for h in ("2027011508", "2027011509")}
    assert redis_db.smembers(DIRTY_ACCOUNTS) == {str(team.pk).encode()}


def test_it_counts_each_call_of_a_burst_across_a_period_boundary_in_exactly_one_period(
    team, redis_db
):
    raw, _ = make_key(team)
    boundary = 1_801_440_000  # 2027-02-01T00:00:00Z, a calendar-month start
    outcomes = []
    for offset in (-2, -1, 0, 1, 2, 3, 4, 5, 6):
        with time_machine.travel(boundary + offset, tick=False):
            outcomes.append(ask(raw)[0])
    tag = account_tag(team.pk)
    january = int(redis_db.get(f"{tag}:quota:live:1798761600"))
    february = int(redis_db.get(f"{tag}:quota:live:{boundary}"))
    # The quota is 5: 2 calls in January, 5 admitted (of 7) in February.
    assert (january, february) == (2, 5)
    assert outcomes == [204] * 7 + [403] * 2
