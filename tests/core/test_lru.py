"""core.lru.ExpiringLRU, the map behind the gateway's key, policy and token caches."""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass

from core.lru import ExpiringLRU, RefreshingLRU


def later(seconds: float = 60.0) -> float:
    return time.monotonic() + seconds


def on_a_clock(
    monkeypatch, max_entries: int
) -> tuple[list[float], list[str], RefreshingLRU[str, int]]:
    """A RefreshingLRU on the test's own clock (set ``clock[0]``: no sleeping), and the keys it
    hands on for reloads, in order."""
    clock = [1_000.0]
    monkeypatch.setattr("core.lru.monotonic", lambda: clock[0])
    due: list[str] = []
    return clock, due, RefreshingLRU(max_entries=max_entries, on_due=due.append)


def test_it_drops_the_least_recently_used_entry_to_make_room():
    cache: ExpiringLRU[str, int] = ExpiringLRU(max_entries=2)
    cache.put("a", 1, later())
    cache.put("b", 2, later())
    assert cache.get("a") == (True, 1)  # used: now the most recent
    cache.put("c", 3, later())
    assert list(cache) == ["a", "c"]
    assert cache.get("b") == (False, None)


def test_an_expired_entry_is_a_miss_and_none_is_a_value():
    cache: ExpiringLRU[str, int | None] = ExpiringLRU(max_entries=10)
    cache.put("gone", 1, time.monotonic() - 0.001)
    cache.put("unknown", None, later())  # negative caching: "no such thing" is worth keeping
    assert cache.get("gone") == (False, None)
    assert cache.get("unknown") == (True, None)


def test_a_value_read_before_an_invalidation_is_not_stored():
    cache: ExpiringLRU[str, int] = ExpiringLRU(max_entries=10)
    cache.put("k", 1, later())
    generation = cache.generation  # a loader starts reading the database...
    cache.forget("k")  # ...a change arrives meanwhile...
    cache.put("k", 1, later(), generation=generation)  # ...so what it read may be stale
    assert "k" not in cache
    cache.put("k", 2, later(), generation=cache.generation)
    assert cache.get("k") == (True, 2)
    generation = cache.generation
    cache.clear()
    cache.put("k", 2, later(), generation=generation)
    assert len(cache) == 0


def test_it_stays_bounded_and_consistent_under_concurrent_use():
    cache: ExpiringLRU[int, int] = ExpiringLRU(max_entries=100)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(5000):
                key = (n * 7 + offset) % 300
                hit, value = cache.get(key)
                assert not hit or value == key
                cache.put(key, key, later())
                if n % 97 == 0:
                    cache.forget(key)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) <= 100
    assert all(cache.get(key)[1] in (None, key) for key in list(cache))


@dataclass(frozen=True, slots=True)
class Record:
    name: str


def test_an_entry_adds_no_object_for_the_garbage_collector_beyond_its_value():
    """The collector's full passes walk every object it tracks while the auth server's loop
    waits: an entry holding a 100,000-key cache's record must not add a pair per entry."""
    values = [Record(str(n)) for n in range(10_000)]
    cache: ExpiringLRU[int, Record] = ExpiringLRU(max_entries=20_000)
    gc.collect()
    before = len(gc.get_objects())
    for n, value in enumerate(values):
        cache.put(n, value, later())
    gc.collect()
    assert len(gc.get_objects()) - before < 100  # two maps, not 10,000 (value, expiry) pairs
    assert cache.get(9_999) == (True, values[9_999])


def test_a_hit_past_its_refresh_time_hands_its_key_on_once_and_is_still_a_hit():
    due: list[str] = []
    cache: RefreshingLRU[str, int] = RefreshingLRU(max_entries=10, on_due=due.append)
    cache.put("busy", 1, later(), refresh_at=time.monotonic() - 0.001)
    cache.put("young", 2, later(), refresh_at=later(30))
    cache.put("plain", 3, later())  # no refresh time: it only expires
    assert [cache.get(k) for k in ("busy", "busy", "young", "plain")] == [
        (True, 1), (True, 1), (True, 2), (True, 3)
    ]  # fmt: skip
    assert due == ["busy"]
    assert cache.refreshed("busy", 10, later(), later(30), since=cache.generation)
    cache.get("busy")
    assert due == ["busy"] and cache.get("busy") == (True, 10)


def test_a_reload_is_dropped_only_if_its_own_key_was_invalidated_since_it_began():
    cache: RefreshingLRU[str, int] = RefreshingLRU(max_entries=10)
    for key in ("a", "b", "c"):
        cache.put(key, 1, later())
    since = cache.generation  # the refresher starts reading...
    cache.forget("b")  # ...and b changes meanwhile
    cache.put("b", 5, later())  # (loaded by a call, after the change)
    assert cache.refreshed("a", 2, later(), None, since)  # another key's change: kept
    assert not cache.refreshed("b", 2, later(), None, since)  # what it read of b is stale
    assert cache.get("b") == (True, 5)
    since = cache.generation
    cache.clear()
    cache.put("c", 7, later())
    assert not cache.refreshed("c", 2, later(), None, since)
    assert cache.get("c") == (True, 7)


def test_it_remembers_a_bounded_number_of_forgotten_keys_and_is_safe_beyond_it(monkeypatch):
    monkeypatch.setattr(RefreshingLRU, "FORGOTTEN_KEPT", 3)
    cache: RefreshingLRU[int, int] = RefreshingLRU(max_entries=10)
    cache.put(0, 0, later())
    since = cache.generation
    for key in range(1, 6):  # more forgotten keys than it remembers: as if cleared
        cache.forget(key)
    assert len(cache._forgotten_at) <= 3
    assert not cache.refreshed(0, 1, later(), None, since)


def test_a_reload_does_not_bring_back_an_entry_evicted_or_dropped_meanwhile():
    cache: RefreshingLRU[str, int] = RefreshingLRU(max_entries=2)
    cache.put("old", 1, later(), refresh_at=later(-1))
    since = cache.generation
    cache.put("b", 2, later())
    cache.put("c", 3, later())  # "old" is evicted
    assert not cache.refreshed("old", 9, later(), None, since)
    assert list(cache) == ["b", "c"]
    cache.discard("b")
    assert list(cache) == ["c"] and cache.generation == since  # no invalidation counted


def test_an_entry_handed_on_for_a_reload_still_expires_on_time(monkeypatch):
    """A hit past its refresh point hands the key on once and is a hit until the entry
    expires; then it is a miss. (The cache's clock is the test's: no sleeping.)"""
    clock, due, cache = on_a_clock(monkeypatch, max_entries=10)
    cache.put("k", 1, 1_000.2, refresh_at=999.9)
    assert [cache.get("k"), cache.get("k")] == [(True, 1), (True, 1)] and due == ["k"]
    clock[0] = 1_000.25
    assert cache.get("k") == (False, None) and due == ["k"]


def test_a_reload_sets_the_next_refresh_point_which_a_hit_then_meets(monkeypatch):
    clock, due, cache = on_a_clock(monkeypatch, max_entries=10)
    cache.put("k", 1, 1_060.0, refresh_at=999.9)
    assert cache.get("k") == (True, 1) and due == ["k"]
    since = cache.generation
    assert cache.refreshed("k", 2, 1_060.0, 1_000.1, since)
    assert cache.get("k") == (True, 2) and due == ["k"]  # not due yet
    clock[0] = 1_000.15
    assert cache.get("k") == (True, 2) and due == ["k", "k"]
    cache.clear()
    assert cache.get("k") == (False, None)


def test_a_refresh_point_at_or_past_the_expiry_is_never_met(monkeypatch):
    """An entry's hits look at the first of its refresh point and its expiry: a point the
    entry does not live to see hands nothing on, and the entry expires as any other."""
    clock, due, cache = on_a_clock(monkeypatch, max_entries=10)
    cache.put("k", 1, 1_000.2, refresh_at=1_000.2)
    assert cache.refresh_point("k") is None
    clock[0] = 1_000.1
    assert cache.get("k") == (True, 1)
    clock[0] = 1_000.2
    assert cache.get("k") == (False, None) and due == []


def test_an_entry_forgotten_or_evicted_past_its_refresh_point_is_a_miss(monkeypatch):
    clock, due, cache = on_a_clock(monkeypatch, max_entries=2)
    cache.put("gone", 1, 1_060.0, refresh_at=1_000.1)
    cache.put("old", 2, 1_060.0, refresh_at=1_000.1)
    assert cache.refresh_point("gone") == 1_000.1
    cache.forget("gone")
    cache.put("b", 3, 1_060.0)
    cache.put("c", 4, 1_060.0)  # "old" is evicted
    clock[0] = 1_000.2
    assert [cache.get(k) for k in ("gone", "old")] == [(False, None)] * 2 and due == []
    assert cache.refresh_point("gone") is None and list(cache) == ["b", "c"]
