"""The bounded, expiring, least-recently-used map behind the gateway's in-process caches.

Key records (apikeys.records), account policies (gateway.policy) and entitlement tokens
(gateway.entitlements) are each read on every call and loaded or made on a miss. Each lives in
an ``ExpiringLRU``: at most ``max_entries`` entries, the least recently used dropped to make room
(so a seller with a million keys keeps a bounded process and its busy entries cached, instead
of emptying the cache at once and stampeding the database), each entry until its own expiry on
the monotonic clock.

Hits take no lock, so they never wait for each other: each OrderedDict call is atomic under the
GIL, and an entry evicted or forgotten meanwhile has nothing to move. Writes take the lock (and
so does a RefreshingLRU's hit on an entry's refresh point, once per reload).
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
from collections.abc import Callable, Iterator
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

    def peek(self, key: K) -> V | None:
        """The value held under ``key`` (expired or not), without touching its place: None
        when there is none."""
        return self._values.get(key)

    def put(self, key: K, value: V, expires_at: float, *, generation: int | None = None) -> None:
        """Store until ``expires_at`` (monotonic), unless an invalidation came since
        ``generation`` was read."""
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self._store(key, value, expires_at)

    def _store(self, key: K, value: V, expires_at: float) -> None:
        """Under the lock: store, and drop the least recently used entries beyond the bound."""
        self._values[key] = value
        self._values.move_to_end(key)
        self._expiries[key] = expires_at
        while len(self._values) > self.max_entries:
            oldest, _ = self._values.popitem(last=False)
            self._expiries.pop(oldest, None)
            self._evicted(oldest)

    def _evicted(self, key: K) -> None:
        """Under the lock, after an entry was dropped to make room."""

    def forget(self, key: K) -> None:
        with self._lock:
            self.generation += 1
            self._expiries.pop(key, None)
            self._values.pop(key, None)
            self._forgotten(key)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._expiries.clear()
            self._values.clear()
            self._cleared()

    def _forgotten(self, key: K) -> None:
        """Under the lock, after a forget (RefreshingLRU remembers which key)."""

    def _cleared(self) -> None:
        """Under the lock, after a clear."""

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, key: object) -> bool:
        """Whether an entry is held (expired or not)."""
        return key in self._values

    def __iter__(self) -> Iterator[K]:
        """The keys held, least recently used first."""
        return iter(list(self._values))


class RefreshingLRU(ExpiringLRU[K, V]):
    """An ExpiringLRU whose busy entries are reloaded before they expire, off the caller's path.

    An entry may carry a ``refresh_at`` before its expiry. The first hit after it hands the key
    to ``on_due`` (core.refresh.Refresher queues it for its thread) and goes on with the value,
    which is still within its expiry: a busy entry is reloaded in the background and never
    expires, so its callers never wait for the database; an idle one expires as before.

    A hit looks at one time per entry, the first of its refresh point and its expiry (held where
    ExpiringLRU holds expiries); an entry with a refresh point keeps its expiry aside
    (``_later``) until a hit meets the point. A time of its own for each was one more map of
    100,000 entries for every hit to miss in (bench (h): two hits a call).

    A reload passes the generation it read before asking the database (``refreshed``): it is
    not stored if its key was forgotten, or the map cleared, since. Unlike ``put``'s, the check
    is per key, so a batch of reloads survives invalidations of other keys.
    """

    # Keys forgotten, remembered for reloads in flight; beyond this many, as if cleared.
    FORGOTTEN_KEPT = 4096

    def __init__(self, max_entries: int, on_due: Callable[[K], None] | None = None) -> None:
        super().__init__(max_entries)
        self._later: dict[K, float] = {}  # expiries of the entries not yet past their point
        self._forgotten_at: dict[K, int] = {}
        self._cleared_at = 0
        self.on_due = on_due

    def get(self, key: K) -> tuple[bool, V | None]:
        # ExpiringLRU.get's lines, not a call to it: this runs twice on every gateway call.
        now = monotonic()
        if self._expiries.get(key, 0.0) <= now:
            return self._past_point(key, now)
        value = self._values.get(key, _MISSING)
        if value is _MISSING:
            return False, None
        try:  # noqa: SIM105
            self._values.move_to_end(key)
        except KeyError:
            pass
        return True, value  # type: ignore[return-value]

    def _past_point(self, key: K, now: float) -> tuple[bool, V | None]:
        """A hit past its entry's time: its expiry (a miss), or its refresh point, met once:
        the key goes to ``on_due`` and the entry lives on until its expiry."""
        if key not in self._later:
            return False, None  # expired, or not held: a miss takes no lock
        with self._lock:  # once per entry and reload: a hit racing a store or a forget
            expires_at = self._later.pop(key, None)
            if expires_at is None or expires_at <= now or key not in self._values:
                return False, None
            self._expiries[key] = expires_at
            value = self._values[key]
            self._values.move_to_end(key)
        if self.on_due is not None:
            self.on_due(key)
        return True, value

    def put(
        self,
        key: K,
        value: V,
        expires_at: float,
        *,
        generation: int | None = None,
        refresh_at: float | None = None,
    ) -> None:
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            self._store_due(key, value, expires_at, refresh_at)

    def refreshed(
        self, key: K, value: V, expires_at: float, refresh_at: float | None, since: int
    ) -> bool:
        """Store a reload that read the database after generation ``since`` was current,
        unless its key was forgotten or the map cleared since, or the entry left the map
        (evicted: a reload must not push out an entry in use). Whether it was stored."""
        with self._lock:
            if self._cleared_at > since or self._forgotten_at.get(key, -1) > since:
                return False
            if key not in self._values:
                return False
            self._store_due(key, value, expires_at, refresh_at)
            return True

    def refresh_point(self, key: K) -> float | None:
        """When the entry is due for a reload (monotonic); None when it is not to be."""
        return self._expiries.get(key) if key in self._later else None

    def discard(self, key: K) -> None:
        """Drop an entry without counting an invalidation (a reload that found nothing: the
        next call loads it the ordinary way)."""
        with self._lock:
            self._values.pop(key, None)
            self._expiries.pop(key, None)
            self._later.pop(key, None)

    def _store_due(self, key: K, value: V, expires_at: float, refresh_at: float | None) -> None:
        self._store(key, value, expires_at)
        if refresh_at is not None and refresh_at < expires_at:
            self._expiries[key] = refresh_at
            self._later[key] = expires_at
        else:
            self._later.pop(key, None)

    def _evicted(self, key: K) -> None:
        self._later.pop(key, None)

    def _forgotten(self, key: K) -> None:
        self._later.pop(key, None)
        if len(self._forgotten_at) >= self.FORGOTTEN_KEPT:
            self._forget_all_since_now()
        self._forgotten_at[key] = self.generation

    def _cleared(self) -> None:
        self._later.clear()
        self._forget_all_since_now()

    def _forget_all_since_now(self) -> None:
        """Reloads that began before now are not stored (as after a clear)."""
        self._forgotten_at.clear()
        self._cleared_at = self.generation
