from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.db import connection, transaction
from django.db.models import Sum

from tests.usage.support import count_usage
from usage.flush import apply, claim, flush
from usage.models import FlushedBatch, HourlyUsage, UsageSummary
from usage.summaries import ACCOUNT, ENDPOINT, KEY

pytestmark = pytest.mark.django_db(transaction=True)
HOUR = "2026112322"


def live_key(account_id: int, hour: str = HOUR) -> str:
    return f"tg:{{acct:{account_id}}}:use:{hour}"


def count(
    redis_db, account_id: int, n: int, field: str = "key_a|demo|GET /demo/hello|ok", hour=HOUR
):
    """What the gateway's Lua call does for each call it counts."""
    for _ in range(n):
        count_usage(redis_db, live_key(account_id, hour), field)


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
    assert list(redis_db.scan_iter(match="tg:*batch*")) == []


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
    count_usage(
        redis_db, f"tg:{{acct:{team.id}}}:test-use:{HOUR}", f"{key.public_id}|demo|GET /x|ok", 3
    )
    flush(redis_db)
    row = HourlyUsage.objects.get()
    assert (row.environment, row.count) == ("test", 3)
    assert list(redis_db.scan_iter(match="tg:*")) == []


def test_calls_admitted_while_redis_was_down_are_counted_once(redis_db, team):
    from gateway.models import UncountedCall

    for minute in (1, 2, 59):
        UncountedCall.objects.create(
            account_id=team.id, key_id="key_a", environment="live", product="demo",
            endpoint_group="GET /demo/hello",
            admitted_at=datetime(2026, 11, 23, 22, minute, tzinfo=UTC),
        )  # fmt: skip
    count(redis_db, team.id, 2)
    assert flush(redis_db).calls == 5
    flush(redis_db)
    assert total() == 5
    assert not UncountedCall.objects.exists()


def summed(rows, *fields) -> Counter:
    totals: Counter = Counter()
    for row in rows.values(*fields, "count"):
        totals[tuple(row[f] for f in fields)] += row["count"]
    return totals


def assert_summaries_equal_the_detail(account_id: int) -> None:
    """UsageSummary, every span and dimension, against HourlyUsage summed the same way."""
    detail = HourlyUsage.objects.filter(account_id=account_id)
    for span in ("hour", "day"):
        summary = UsageSummary.objects.filter(account_id=account_id, span=span)
        for dimension, field in ((ACCOUNT, None), (KEY, "key_id"), (ENDPOINT, "endpoint")):
            expected: Counter = Counter()
            for row in detail.values(
                "hour", "environment", "outcome", "count", *filter(None, [field])
            ):
                start = row["hour"] if span == "hour" else row["hour"].replace(hour=0)
                value = row[field] if field else ""
                expected[(start, value, row["environment"], row["outcome"])] += row["count"]
            got = summed(
                summary.filter(dimension=dimension), "start", "value", "environment", "outcome"
            )
            assert got == expected, (span, dimension)


def test_the_account_summaries_always_equal_the_detailed_rollups(redis_db, team, user_factory):
    from accounts.models import Account
    from gateway.models import UncountedCall
    from tests.gateway.support import make_key

    _, live = make_key(team)
    _, test = make_key(team, "test")
    other = Account.objects.create_with_owner("Other", user_factory())
    for hour in ("2026112322", "2026112323", "2026112400"):  # across midnight
        count(redis_db, team.id, 3, f"{live.public_id}|demo|GET /demo/hello|ok", hour)
        count(redis_db, team.id, 2, f"{live.public_id}|demo|POST /demo/echo|ok", hour)
        count(redis_db, team.id, 1, f"{live.public_id}|demo|GET /demo/hello|rate_limited", hour)
        count(redis_db, other.id, 4, "key_x|demo|GET /demo/hello|ok", hour)
        test_hash = f"tg:{{acct:{team.id}}}:test-use:{hour}"
        count_usage(redis_db, test_hash, f"{test.public_id}|demo|GET /x|ok", 5)
        flush(redis_db)
    UncountedCall.objects.create(
        account_id=team.id, key_id=live.public_id, environment="live", product="demo",
        endpoint_group="GET /demo/hello", admitted_at=datetime(2026, 11, 23, 23, 30, tzinfo=UTC),
    )  # fmt: skip
    flush(redis_db)
    for account in (team, other):
        assert_summaries_equal_the_detail(account.id)
    assert summed(
        UsageSummary.objects.filter(account=team, span="day", dimension=ACCOUNT), "start"
    ) == {
        (datetime(2026, 11, 23, tzinfo=UTC),): 2 * (3 + 2 + 1 + 5) + 1,
        (datetime(2026, 11, 24, tzinfo=UTC),): 3 + 2 + 1 + 5,
    }


def test_the_migration_fills_the_summaries_of_earlier_rollups(redis_db, team):
    from importlib import import_module

    from django.apps import apps

    from usage.collector import Tally, write_stats
    from usage.models import LATENCY_COLUMNS, LatencySummary

    count(redis_db, team.id, 4)
    count(redis_db, team.id, 3, hour="2026112400")
    flush(redis_db)
    tallies = {}
    for key_id, latency_ms in (("key_a", 3.0), ("key_b", 40.0), ("key_b", 700.0)):
        tally = tallies.setdefault(
            (team.id, key_id, "GET /demo/hello", datetime(2026, 11, 23, 22, tzinfo=UTC), "2xx"),
            Tally(),
        )
        tally.add(latency_ms)
    with transaction.atomic():  # as the collector writes them
        write_stats(tallies)

    def summaries():
        usage = summed(UsageSummary.objects.all(), "span", "start", "dimension", "value", "outcome")
        latency = sorted(
            LatencySummary.objects.values_list(
                "span", "start", "endpoint", "count", *LATENCY_COLUMNS
            )
        )
        return usage, latency

    written = summaries()
    assert written[0] and len(written[1]) == 2
    UsageSummary.objects.all().delete()
    LatencySummary.objects.all().delete()
    import_module("usage.migrations.0003_usage_summaries").fill_summaries(apps, None)
    assert summaries() == written
