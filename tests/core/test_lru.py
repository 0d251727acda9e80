"""core.lru.ExpiringLRU, the map behind the gateway's key, policy and token caches."""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass

from core.lru import ExpiringLRU


def later(seconds: float = 60.0) -> float:
    return time.monotonic() + seconds


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
