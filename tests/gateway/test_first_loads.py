"""core.first_loads on a real uvloop loop, real threads and the real database: the misses of
the decisions waiting at once are read together, each decision gets its own value (the same
as a read in place gives), and a failed or overtaken read loses nothing and stores nothing
stale."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import pytest
import redis
import uvloop
from django.conf import settings
from django.db import DatabaseError, connections
from django.utils import timezone

from accounts.models import Account
from apikeys import keys, records
from core import first_loads
from gateway import pipelining
from gateway.policy import load_policy, policies
from tests.gateway.support import make_key
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db(transaction=True)  # the threads read what the test wrote


def run_at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Start every job as a decision of one loop iteration, as a burst of nginx's calls would,
    with the auth server's first loads in place; each job's result, or the error it raised."""
    records.listener.ensure_running()  # before: starting, it empties the cache
    wait_for(lambda: records.listener.connected, what="the invalidation listener")
    loop = uvloop.new_event_loop()
    executor = ThreadPoolExecutor(1)  # one thread: its connection is closed below
    kwargs = redis.Redis.from_url(settings.REDIS_URL).connection_pool.connection_kwargs
    pipeline = pipelining.Pipeline(loop, dict(kwargs))
    results: dict[int, Any] = {}

    def caught(job: Callable[[], Any]) -> Any:
        try:
            return job()
        except Exception as error:
            return error

    async def burst() -> None:
        done = loop.create_future()

        def answered(index: int, result: Any) -> None:
            results[index] = result
            if len(results) == len(jobs):
                done.set_result(None)

        for index, job in enumerate(jobs):
            pipeline.decision().start(partial(caught, job), partial(answered, index))
        await asyncio.wait_for(done, 10)

    first_loads.running = first_loads.Loop(loop, executor, pipelining.on_loop)
    try:
        loop.run_until_complete(burst())
    finally:
        first_loads.running = None
        executor.submit(connections.close_all).result()  # or the test database stays in use
        executor.shutdown()
        loop.close()
    return [results[index] for index in range(len(jobs))]


@pytest.fixture
def counted_loads():
    """Count the batches and keys each cache's first loads read during the test."""
    before = {
        cache: (cache.batches, cache.keys)
        for cache in (records.first_loads, policies.first_loads)
    }  # fmt: skip

    def since(cache: first_loads.FirstLoads[Any, Any]) -> tuple[int, int]:
        batches, read = before[cache]
        return cache.batches - batches, cache.keys - read

    return since


def test_the_misses_of_one_moment_are_read_in_one_batch_each_with_its_own_value(
    team, free_plan, user_factory, counted_loads
):
    other = Account.objects.create_with_owner("Other", user_factory("o@example.com"))
    issued = [make_key(account) for account in (team, other) for _ in range(15)]
    revoked_raw, _ = make_key(team, revoked_at=timezone.now())  # no invalidation to race
    unknown = keys.generate("live")  # well formed, in no row
    raws = [raw for raw, _ in issued] + [revoked_raw, unknown, issued[0][0]]  # one twice

    found = run_at_once([lambda raw=raw: records.lookup(raw) for raw in raws])

    assert counted_loads(records.first_loads) == (1, len(raws) - 1)  # the repeated key once
    expected = [records.read([keys.hash_key(raw)])[keys.hash_key(raw)] for raw in raws]
    assert found == expected  # each decision its own key's record, as a read in place gives
    assert [r.key_id for r in found[:30]] == [key.public_id for _, key in issued]
    assert found[30].status == "revoked" and found[31] is None
    # Cached, the unknown key in its own map (negative caching): the next calls read nothing.
    assert all(records.cache.get(keys.hash_key(raw))[0] for raw in raws if raw != unknown)
    assert records.unknown.get(keys.hash_key(unknown))[0]
    run_at_once([lambda raw=raw: records.lookup(raw) for raw in raws])
    assert counted_loads(records.first_loads) == (1, len(raws) - 1)


def test_policies_missed_together_are_read_together(team, free_plan, user_factory, counted_loads):
    accounts = [team] + [
        Account.objects.create_with_owner(f"Team {n}", user_factory(f"u{n}@example.com"))
        for n in range(5)
    ]
    closed = accounts[-1]
    closed.closed_at = closed.created_at
    closed.save(update_fields=["closed_at"])
    now = time.time()

    found = run_at_once([lambda pk=a.pk: policies.get(pk, now) for a in accounts])

    assert counted_loads(policies.first_loads) == (1, len(accounts))
    assert [p.plan_slug for p in found[:-1]] == [free_plan.slug] * (len(accounts) - 1)
    assert found[-1] is None  # a closed account has no policy
    in_place = [load_policy(a.pk, now) for a in accounts]
    assert [(p.account_id, p.live, p.period_end) for p in found[:-1]] == [
        (p.account_id, p.live, p.period_end) for p in in_place[:-1]
    ]
    assert all(a.pk in policies for a in accounts)


def test_a_decision_waits_for_its_key_and_then_its_policy(team, free_plan, counted_loads):
    """The two caches in a row, as a decision reads them: both batched, in that order."""
    made = [make_key(team) for _ in range(4)]

    def decide(raw: str) -> str:
        record = records.lookup(raw)
        assert record is not None
        policy = policies.get(record.account_id, time.time())
        assert policy is not None
        return f"{record.key_id} {policy.plan_slug}"

    answers = run_at_once([lambda raw=raw: decide(raw) for raw, _ in made])

    assert answers == [f"{key.public_id} {free_plan.slug}" for _, key in made]
    assert counted_loads(records.first_loads) == (1, 4)
    assert counted_loads(policies.first_loads) == (1, 1)  # one account, asked four times


def test_a_failed_read_fails_each_waiting_decision_and_the_next_reads_again(
    team, monkeypatch, counted_loads
):
    made = [make_key(team) for _ in range(3)]
    real_read = records.read

    def database_down(key_hashes: list[str]) -> Any:
        raise DatabaseError("the database is down")

    monkeypatch.setattr(records, "read", database_down)
    failed = run_at_once([lambda raw=raw: records.lookup(raw) for raw, _ in made])
    assert all(isinstance(error, DatabaseError) for error in failed)
    assert not any(records.cache.get(key.key_hash)[0] for _, key in made)  # nothing stored

    monkeypatch.setattr(records, "read", real_read)
    found = run_at_once([lambda raw=raw: records.lookup(raw) for raw, _ in made])
    assert [r.key_id for r in found] == [key.public_id for _, key in made]
    assert counted_loads(records.first_loads) == (2, 6)


def test_what_was_read_before_an_invalidation_is_handed_back_but_not_stored(team, monkeypatch):
    raw, key = make_key(team)
    real_read = records.read

    def read_then_hear_a_revocation(key_hashes: list[str]) -> Any:
        read = real_read(key_hashes)
        records.cache.forget(key.key_hash)  # the listener, while the batch was read
        return read

    monkeypatch.setattr(records, "read", read_then_hear_a_revocation)
    (found,) = run_at_once([lambda: records.lookup(raw)])
    assert found.key_id == key.public_id  # current when read, as a read in place returns it
    assert records.cache.get(key.key_hash) == (False, None)  # the next call reads again


def test_off_the_loop_a_miss_is_read_in_place(team, counted_loads):
    """A WSGI thread, the executor's threads, a task: no decision to park, one key read."""
    raw, key = make_key(team)
    assert records.lookup(raw).key_id == key.public_id
    assert counted_loads(records.first_loads) == (1, 1)  # a batch of one
    assert records.cache.get(key.key_hash)[0]


@pytest.fixture
def queries_read(monkeypatch):
    """The database queries the first loads' reads make, on whichever thread they run."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    made: list[int] = []
    real_read = records.read

    def counted_read(key_hashes: list[str]) -> Any:
        with CaptureQueriesContext(connection) as queries:  # the reading thread's connection
            read = real_read(key_hashes)
        made.append(len(queries))
        return read

    monkeypatch.setattr(records, "read", counted_read)
    return made


def test_a_burst_of_distinct_forged_keys_costs_one_query(counted_loads, queries_read):
    """Well-formed keys anyone can make, none sent twice: the negative entries cannot help,
    the batch does. (Up to core.first_loads.BATCH keys a query.)"""
    forged = [keys.generate("live") for _ in range(300)]
    found = run_at_once([lambda raw=raw: records.lookup(raw) for raw in forged])
    assert found == [None] * 300
    assert counted_loads(records.first_loads) == (1, 300)
    assert queries_read == [1]


def test_one_address_cannot_fill_the_batches(team, free_plan, settings, counted_loads):
    """A burst of forgeries from one address parks no more than its budget: the rest are
    refused at once, and another address's new key is read in the same batch."""
    from apikeys.unknown_keys import TooManyUnknownKeys

    settings.GATEWAY_UNKNOWN_KEYS_PER_ADDRESS = 20
    raw, key = make_key(team)
    forged = [keys.generate("live") for _ in range(300)]
    jobs = [lambda raw=raw: records.lookup(raw, "203.0.113.7") for raw in forged]
    answers = run_at_once([*jobs, lambda: records.lookup(raw, "198.51.100.2")])

    assert answers[:20] == [None] * 20
    assert all(isinstance(refused, TooManyUnknownKeys) for refused in answers[20:300])
    assert answers[300].key_id == key.public_id
    assert counted_loads(records.first_loads) == (1, 21)
