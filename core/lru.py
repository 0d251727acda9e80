"""The bounded, expiring, least-recently-used map behind the gateway's in-process caches.

Key records (apikeys.records), account policies (gateway.policy) and entitlement tokens
(gateway.entitlements) are each read on every call and loaded or made on a miss. Each lives in
an ``ExpiringLRU``: at most ``max_entries`` entries, the least recently used dropped to make room
(so a seller with a million keys keeps a bounded process and its busy entries cached, instead
of emptying the cache at once and stampeding the database), each entry until its own expiry on
the monotonic clock.

Hits take no lock, so they never wait for each other: each OrderedDict call is atomic under the
GIL, and an entry evicted or forgotten meanwhile has nothing to move. Writes take the lock.
``generation`` counts invalidations: a value read from the database before an invalidation
arrived must not be stored (it may be the state from before the change), so a loader notes the
generation before reading and passes it to ``put``.

Values and their expiries are kept in two maps rather than as (value, expiry) pairs: a pair is
one more object per entry for Python's cyclic garbage collector, whose full passes over a
cache of 100,000 entries stop the auth server's loop while they run. A hit racing a write may
pair a value with the expiry written for its replacement: it returns a value that was current
a moment before, as a hit racing an invalidation always could.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from time import monotonic
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
_MISSING = object()


class ExpiringLRU(Generic[K, V]):
    def __init__(self, max_entries: int) -> None:
        self._values: OrderedDict[K, V] = OrderedDict()  # least recently used first
        self._expiries: dict[K, float] = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.generation = 0

    def get(self, key: K) -> tuple[bool, V | None]:
        """(True, value) for an entry not yet expired, else (False, None)."""
        if self._expiries.get(key, 0.0) <= monotonic():
            return False, None
        value = self._values.get(key, _MISSING)
        if value is _MISSING:
            return False, None  # evicted or forgotten meanwhile
        try:  # noqa: SIM105  (suppress() would cost more than the rest of a hit)
            self._values.move_to_end(key)
        except KeyError:
            pass  # evicted or forgotten meanwhile: nothing to move
        return True, value  # type: ignore[return-value]  # not _MISSING, checked above

    def put(self, key: K, value: V, expires_at: float, *, generation: int | None = None) -> None:
        """Store until ``expires_at`` (monotonic), unless an invalidation came since
        ``generation`` was read."""
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self._values[key] = value
            self._values.move_to_end(key)
            self._expiries[key] = expires_at
            while len(self._values) > self.max_entries:
                oldest, _ = self._values.popitem(last=False)
                self._expiries.pop(oldest, None)

    def forget(self, key: K) -> None:
        with self._lock:
            self.generation += 1
            self._expiries.pop(key, None)
            self._values.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._expiries.clear()
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        """Whether an entry is held (expired or not)."""
        return key in self._values

    def __iter__(self) -> Iterator[K]:
        """The keys held, least recently used first."""
        return iter(list(self._values))
