from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import Sum

from usage.flush import BATCH_PATTERN, apply, claim, flush
from usage.models import FlushedBatch, HourlyUsage

pytestmark = pytest.mark.django_db(transaction=True)
HOUR = "2026112322"


def live_key(account_id: int, hour: str = HOUR) -> str:
    return f"tg:{{acct:{account_id}}}:use:{hour}"


def count(
    redis_db, account_id: int, n: int, field: str = "key_a|demo|GET /demo/hello|ok", hour=HOUR
):
    """What the gateway's Lua call does for each call it counts."""
    for _ in range(n):
        redis_db.hincrby(live_key(account_id, hour), field, 1)


def total(**filters) -> int:
    return HourlyUsage.objects.filter(**filters).aggregate(n=Sum("count"))["n"] or 0


def test_it_moves_counts_into_hourly_rollups(redis_db, team):
    count(redis_db, team.id, 7)
    count(redis_db, team.id, 2, field="key_a|demo|GET /demo/hello|rate_limited")
    count(redis_db, team.id, 3, hour="2026112323")
    summary = flush(redis_db)
    assert summary.applied == 2 and summary.calls == 12
    row = HourlyUsage.objects.get(outcome="ok", hour=datetime(2026, 11, 23, 22, tzinfo=UTC))
    assert (row.key_id, row.product, row.endpoint, row.count) == (
        "key_a",
        "demo",
        "GET /demo/hello",
        7,
    )
    assert total(outcome="rate_limited") == 2
    assert total() == 12
    assert list(redis_db.scan_iter(match="tg:*")) == []


def test_repeated_flushes_add_only_new_calls(redis_db, team):
    count(redis_db, team.id, 5)
    flush(redis_db)
    count(redis_db, team.id, 4)
    flush(redis_db)
    flush(redis_db)
    assert total() == 9
    assert HourlyUsage.objects.count() == 1


def test_a_crash_after_claiming_loses_nothing(redis_db, team):
    count(redis_db, team.id, 6)
    claim(redis_db, live_key(team.id))  # ...and the worker dies here
    count(redis_db, team.id, 1)  # the gateway keeps counting into a fresh hash
    flush(redis_db)
    assert total() == 7


def test_a_crash_after_applying_doubles_nothing(redis_db, team):
    count(redis_db, team.id, 6)
    batch = claim(redis_db, live_key(team.id))
    assert apply(redis_db, batch)  # committed, then the worker dies before DEL
    summary = flush(redis_db)
    assert summary.already_applied == 1
    assert total() == 6
    assert FlushedBatch.objects.count() == 1
    assert list(redis_db.scan_iter(match=BATCH_PATTERN)) == []


def test_concurrent_flushers_and_traffic_count_every_call_once(redis_db, team):
    calls_per_thread, threads = 300, 4
    stop = threading.Event()

    def traffic():
        count(redis_db, team.id, calls_per_thread)

    def flusher():
        try:
            while not stop.is_set():
                flush(redis_db)
        finally:
            connection.close()  # each thread has its own connection

    workers = [threading.Thread(target=traffic) for _ in range(threads)]
    # SQLite's shared in-memory test database cannot take two writers at once; PostgreSQL can.
    flusher_count = 2 if connection.vendor == "postgresql" else 1
    flushers = [threading.Thread(target=flusher) for _ in range(flusher_count)]
    for thread in workers + flushers:
        thread.start()
    for thread in workers:
        thread.join()
    stop.set()
    for thread in flushers:
        thread.join()
    flush(redis_db)
    assert total() == calls_per_thread * threads


def test_test_keys_are_marked_so_they_are_never_billed(redis_db, team):
    from apikeys import keys
    from apikeys.models import ApiKey

    raw = keys.generate("test")
    key = ApiKey.objects.create(
        account=team, name="t", environment="test", prefix=keys.display_prefix(raw),
        last4=raw[-4:], key_hash=keys.hash_key(raw),
    )  # fmt: skip
    count(redis_db, team.id, 3, field=f"{key.public_id}|demo|GET /demo/hello|ok")
    flush(redis_db)
    assert HourlyUsage.objects.get().environment == "test"
