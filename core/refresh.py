"""Reloading a cache's busy entries before they expire, in batches, on a thread of their own.

The gateway's key records and account policies are each read on every call and kept for a TTL
(apikeys.records, gateway.policy). When a busy entry expired, the call that found it gone read
the database on one of the auth process's threads, and waited for it. A gateway serving
100,000 busy accounts then reloads hundreds of entries a second, each a call moved off the
loop; those threads and the loop share one GIL, so the loop slowed, fewer calls were served
while the expiries kept coming at the same rate, and more of them went to the threads: measured
on the benchmark's 100,000 hot keys, 13,900 calls a second fell to about 2,000 and stayed there.

A ``Refresher`` takes the keys a ``core.lru.RefreshingLRU`` hands it (a hit past its entry's
``refresh_at``), and one daemon thread per process reloads them ``BATCH`` at a time with one
``load_many`` call (a query or two for the whole batch), storing each reload unless its key was
invalidated meanwhile. Callers never wait for it. An entry it could not reload (the database
down, the row gone) is left to expire, or dropped, and the next call loads it as before.

The thread reads every batch on one connection while batches keep coming (a busy gateway's
come every WAIT_SECONDS at most), and closes it once WAIT_SECONDS pass with nothing to reload,
or after a failed read (the database may have gone with it). A connection of its own per batch
was a tenth of a reload's cost in bench (j) on SQLite, and on PostgreSQL a connection's set-up
(a server process forked, authentication) each time.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from itertools import islice
from typing import Generic, TypeVar

from django.db import connections

from core.lru import RefreshingLRU

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger(__name__)

BATCH = 500  # keys per load_many: one query's IN list stays well under every database's limit
WAIT_SECONDS = 0.5  # a batch smaller than BATCH waits at most this long for company
# A reload: (value, expires_at, refresh_at), as the cache's own load would store them.
Reload = tuple[V, float, float | None]
# An entry used in the last two fifths of its life is reloaded: its point is drawn between 60%
# and 80% of its TTL, so an entry used at least once a minute (of 300 s) never expires, and
# each busy entry is reloaded about once per 0.7 TTL. History: with only the last minute, an
# entry used about once a minute missed its window one time in three, and when a miss cost a
# decision run again on a thread (a few ms), a gateway slowed by misses used each entry less
# often and missed more, so the point moved to half the TTL (bench (h) and (j) on a slow VM: 9%
# of calls loaded on threads). Since misses are parked and read in batches (core.first_loads)
# they no longer feed on themselves, and reloads at half the TTL were the larger cost: bench
# (j)'s reload thread took 13% of its auth process's samples on a slow VM, with half again as
# many reloads as now for the same hot set.
REFRESH_AFTER = 0.8
# Entries loaded together (a start, a deploy, a stampede of new keys) would come due together,
# and again together after each reload: one wave of reloads per cycle, forever. Each reload's
# point is drawn from the last quarter before REFRESH_AFTER, which spreads a wave only a little
# with each cycle; a first load's is drawn much earlier (``sooner``), so entries loaded together
# are spread over most of a cycle from the start. Measured on bench (j)'s hot set on a slow VM
# (100,000 keys loaded in ~15 s): its auth server's CPU per call rose from 65 µs to 80-112 µs
# for the two minutes in which the first wave of reloads and token renewals fell.
SPREAD = 0.25
# A first load's point is drawn between this share of the way to its reload's point and that
# point: for a 300 s TTL, between 60 and 240 s.
FIRST_SHARE = 1 / 3


def refresh_at(loaded_at: float, ttl: float) -> float:
    """When an entry loaded at ``loaded_at`` to live ``ttl`` seconds is due for a reload."""
    return loaded_at + ttl * REFRESH_AFTER * random.uniform(1 - SPREAD, 1.0)


def sooner(point: float | None) -> float | None:
    """A first load's refresh point (monotonic), from its reload's: drawn between FIRST_SHARE
    of the way there and ``point``. Once per entry: its reloads come a cycle apart after it."""
    if point is None:
        return None
    now = time.monotonic()
    return now + (point - now) * random.uniform(FIRST_SHARE, 1.0)


class Refresher(Generic[K, V]):
    """Reloads the keys its cache hands it (``due``), in batches, on a thread of its own."""

    def __init__(
        self,
        name: str,
        cache: RefreshingLRU[K, V],
        load_many: Callable[[list[K]], Iterable[tuple[K, Reload[V]]]],
    ) -> None:
        self.name = name
        self.cache = cache
        self.load_many = load_many
        self.reloaded = self.dropped = 0  # for tests and the curious
        self._reset()
        cache.on_due = self.due
        os.register_at_fork(after_in_child=self._reset)  # the parent's thread is not ours

    def _reset(self) -> None:
        self._wake = threading.Condition()
        self._queued: dict[K, None] = {}  # in order, each key once
        self._thread: threading.Thread | None = None

    def due(self, key: K) -> None:
        """Queue a key (on the caller's thread: no I/O, no waiting beyond a lock)."""
        with self._wake:
            if key in self._queued:
                return
            self._queued[key] = None
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"refresh {self.name}", daemon=True
                )
                self._thread.start()
            if len(self._queued) >= BATCH:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._wake:
                if len(self._queued) < BATCH:
                    self._wake.wait(WAIT_SECONDS)
                keys = list(islice(self._queued, BATCH))
                for key in keys:
                    del self._queued[key]
            if keys:
                self.reload(keys)
            else:
                # Idle for WAIT_SECONDS: no connection is held while there is nothing to read.
                connections.close_all()

    def reload(self, keys: list[K]) -> None:
        since = self.cache.generation  # before reading: what changes later wins
        try:
            reloads = dict(self.load_many(keys))
        except Exception:
            # The entries expire as they would have, and are loaded by their next call; the
            # next batch opens a new connection (this one may have died with the database).
            log.exception("%s: could not reload %d entries", self.name, len(keys))
            connections.close_all()
            time.sleep(WAIT_SECONDS)  # not a busy loop against a database that is down
            return
        for key in keys:
            if key in reloads:
                value, expires_at, refresh_at = reloads[key]
                self.reloaded += self.cache.refreshed(key, value, expires_at, refresh_at, since)
            else:
                self.cache.discard(key)
                self.dropped += 1
