"""core.refresh.Refresher: busy entries reloaded in batches on a thread, callers never waiting."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from core import refresh
from core.lru import RefreshingLRU
from core.refresh import Refresher
from tests.helpers import wait_for


def later(seconds: float = 60.0) -> float:
    return time.monotonic() + seconds


class Loader:
    """A load_many that records its batches, answers from `rows`, and can be held or broken."""

    def __init__(self, rows: dict[int, int]) -> None:
        self.rows = rows
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.release.set()
        self.failing = False

    def __call__(self, keys: list[int]):
        self.batches.append(keys)
        self.release.wait(10)
        if self.failing:
            raise ConnectionError("the database is down")
        return [(k, (self.rows[k], later(), later(30))) for k in keys if k in self.rows]


@pytest.fixture
def quick(monkeypatch):
    monkeypatch.setattr(refresh, "WAIT_SECONDS", 0.05)


def due_cache(keys, loader: Loader) -> tuple[RefreshingLRU[int, int], Refresher[int, int]]:
    cache: RefreshingLRU[int, int] = RefreshingLRU(max_entries=10_000)
    refresher = Refresher("test", cache, loader)
    for key in keys:
        cache.put(key, 0, later(), refresh_at=later(-1))
    return cache, refresher


def test_due_keys_are_reloaded_in_batches_and_callers_never_wait(quick, monkeypatch):
    monkeypatch.setattr(refresh, "BATCH", 100)
    loader = Loader({k: k + 1 for k in range(250)})
    loader.release.clear()  # the database is slow: the reloads wait
    cache, refresher = due_cache(range(250), loader)
    started = time.monotonic()
    assert [cache.get(k) for k in range(250)] == [(True, 0)] * 250  # the old values, at once
    assert time.monotonic() - started < 1.0
    loader.release.set()
    wait_for(lambda: refresher.reloaded == 250, what="the reloads")
    assert [cache.get(k) for k in range(250)] == [(True, k + 1) for k in range(250)]
    assert sorted(k for batch in loader.batches for k in batch) == list(range(250))
    assert max(len(batch) for batch in loader.batches) <= 100
    assert len(loader.batches) <= 5  # batched, not one query per key


def test_a_key_due_again_while_queued_is_reloaded_once(quick):
    loader = Loader({1: 5})
    loader.release.clear()
    cache, _ = due_cache([1], loader)
    cache.get(1)
    wait_for(lambda: loader.batches, what="the first reload to start")
    cache.put(1, 0, later(), refresh_at=later(-1))  # due again while its reload runs
    cache.get(1)
    cache.get(1)
    loader.release.set()
    wait_for(lambda: len(loader.batches) == 2, what="the second reload")
    time.sleep(0.2)
    assert loader.batches == [[1], [1]]


def test_a_row_gone_is_dropped_and_a_failed_reload_leaves_entries_to_expire(quick, caplog):
    loader = Loader({1: 10})
    cache, refresher = due_cache([1, 2], loader)
    cache.get(1), cache.get(2)
    wait_for(lambda: refresher.reloaded == 1 and refresher.dropped == 1, what="the reload")
    assert cache.get(1) == (True, 10) and 2 not in cache  # the next call loads it itself
    loader.failing = True
    cache.put(3, 0, later(), refresh_at=later(-1))
    cache.get(3)
    wait_for(lambda: "could not reload 1 entries" in caplog.text, what="the failure logged")
    assert cache.get(3) == (True, 0)  # still there, until it expires
    loader.failing = False
    cache.put(4, 0, later(), refresh_at=later(-1))
    loader.rows[4] = 40
    cache.get(4)
    wait_for(lambda: cache.get(4) == (True, 40), what="the thread to go on after a failure")


def test_reloads_come_due_over_a_window_between_three_and_four_fifths_of_an_entry_life():
    """A start or a deploy loads every entry within seconds: their reloads must not all fall
    due together (one wave every cycle, for ever), nor past four fifths of the entry's life
    (the last fifth: an entry used at least that often never expires)."""
    ttl = 300.0
    points = [refresh.refresh_at(1000.0, ttl) - 1000.0 for _ in range(1000)]
    assert all(0.6 * ttl <= point <= 0.8 * ttl for point in points)
    assert max(points) - min(points) > 0.8 * 0.2 * ttl  # most of the window


def test_a_first_load_comes_due_sooner_than_a_reload_over_most_of_a_cycle():
    """Entries first loaded together are spread from their first reload on: a third of the way
    to a reload's point at the soonest, a reload's point at the latest."""
    ttl = 300.0
    now = time.monotonic()
    points = [refresh.sooner(refresh.refresh_at(now, ttl)) - now for _ in range(1000)]
    assert all(0.6 * ttl / 3 - 1 <= point <= 0.8 * ttl + 1 for point in points)
    assert min(points) < 0.25 * ttl and max(points) > 0.7 * ttl
    assert refresh.sooner(None) is None  # never to be reloaded stays so


class ReadingLoader(Loader):
    """A Loader that reads the database as a reload does, and notes the connection it read on."""

    def __init__(self, rows: dict[int, int]) -> None:
        super().__init__(rows)
        self.read_on: list[object] = []  # each batch's DB-API connection (kept: no id reuse)

    def __call__(self, keys: list[int]):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        self.read_on.append(connection.connection)
        return super().__call__(keys)


@pytest.mark.django_db(transaction=True)  # the refresher's thread opens its own connection
def test_batches_that_follow_each_other_share_a_connection_closed_once_idle(quick, monkeypatch):
    """Opening a connection per batch was a tenth of a reload's cost (bench (j), SQLite); a
    connection left open while nothing is reloaded holds a database slot for nothing."""
    monkeypatch.setattr(refresh, "BATCH", 100)
    loader = ReadingLoader({k: k for k in range(300)})
    loader.release.clear()
    cache, refresher = due_cache(range(300), loader)
    for k in range(300):
        cache.get(k)  # three batches queued at once
    loader.release.set()
    wait_for(lambda: refresher.reloaded == 300, what="the reloads")
    assert len(loader.batches) >= 3
    assert all(read_on is loader.read_on[0] for read_on in loader.read_on)
    time.sleep(3 * refresh.WAIT_SECONDS)  # idle: the thread closes its connection
    cache.put(1000, 0, later(), refresh_at=later(-1))
    loader.rows[1000] = 1
    cache.get(1000)
    wait_for(lambda: refresher.reloaded == 301, what="the reload after the pause")
    assert loader.read_on[-1] is not loader.read_on[0]
