"""A cache's misses, read from the database together: one query for every call that missed
while the last one ran, on a thread, instead of a thread per call.

The gateway's key records and account policies are read from the database the first time a
call needs them (apikeys.records, gateway.policy). On the auth server's event loop a decision
cannot read the database itself (a slow query would hold every call), so a miss used to run the
whole decision again on a thread: about 1.2 ms of CPU a miss on a fast VM and 3.5 ms on a slow
one (the thread's hop, the GIL handed back and forth with the loop, a query built and run per
call), against 50 µs for a decision from memory. A gateway meeting many new keys at once (a
start, a deploy, a million keys called at random) spent its CPU on those hops.

``FirstLoads.get(key)`` from a decision on the loop (one that can ``wait``: a greenlet of
gateway.pipelining) instead parks the decision, and at the end of the loop's iteration every key
parked meanwhile goes to one thread in one ``load`` call (one query for the batch: the refresh's
``core.refresh`` read), whose results the loop hands back to each waiting decision. While a
batch is read, new misses gather for the next: under load the batches grow instead of the
threads' queue. A read that fails raises its error in each decision that waited for it, as the
read on a thread would have. Anywhere else (a WSGI thread, a thread of the executor, a Celery
task), ``get`` reads the one key in place.

``load`` reads and stores in the cache (noting the cache's generation first, as every loader
does), and returns the value of every key it was given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from django.db import close_old_connections

from portal.metrics import CACHE_FIRST_LOADS, CACHE_LOAD_BATCHES

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

log = logging.getLogger(__name__)

BATCH = 500  # keys per load: one query's IN list stays well under every database's limit


class Waiter(Protocol):
    """A decision that can hand its loop back while it waits (gateway.pipelining)."""

    def wait(self) -> Any:
        """Until ``step`` is called; returns what it was given, or raises it if an exception."""

    def step(self, reply: Any = None) -> None: ...


@dataclass(frozen=True)
class Loop:
    """What an auth process lends the first loads: its loop, its threads, and how to find the
    decision running now (None outside one)."""

    loop: asyncio.AbstractEventLoop
    executor: Executor
    current: Callable[[], Waiter | None]


running: Loop | None = None  # this process's, set by the auth server (gateway/worker.py)


class FirstLoads(Generic[K, V]):
    """One cache's first loads. ``load(keys)`` reads and caches those keys, and returns
    every one's value."""

    def __init__(self, name: str, load: Callable[[list[K]], dict[K, V]]) -> None:
        self.name = name
        self.load = load
        self.waiting: dict[K, list[Waiter]] = {}  # parked, for the next batch
        self.reading = False  # a batch is being read on a thread
        self.batches = self.keys = 0  # for tests and the curious, as the metrics count them
        self.loads = CACHE_FIRST_LOADS.labels(name)
        self.load_batches = CACHE_LOAD_BATCHES.labels(name)

    def get(self, key: K, in_place: Callable[[], V] | None = None) -> V:
        """The key's value, read and cached; ``in_place`` reads it where no decision can wait
        (default: ``load`` of the one key)."""
        waiter = running.current() if running is not None else None
        if waiter is None:
            self.count(1)
            return in_place() if in_place is not None else self.load([key])[key]
        waiters = self.waiting.get(key)
        if waiters is None:
            if not self.waiting and not self.reading:
                running.loop.call_soon(self.read)  # type: ignore[union-attr]  # set above
            self.waiting[key] = [waiter]
        else:
            waiters.append(waiter)
        value: V = waiter.wait()
        return value

    def read(self) -> None:
        """On the loop: send up to BATCH parked keys to a thread."""
        if self.reading or not self.waiting or running is None:
            return
        keys = list(self.waiting)[:BATCH]
        batch = {key: self.waiting.pop(key) for key in keys}
        self.reading = True
        self.count(len(keys))
        future = running.loop.run_in_executor(running.executor, self.load_on_thread, keys)
        future.add_done_callback(lambda done: self.resume(batch, done))

    def count(self, keys: int) -> None:
        self.batches += 1
        self.keys += keys
        self.load_batches.inc()
        self.loads.inc(keys)

    def load_on_thread(self, keys: list[K]) -> dict[K, V]:
        try:
            return self.load(keys)
        except Exception:
            close_old_connections()  # a database error leaves this thread's connection unusable
            raise

    def resume(self, batch: dict[K, list[Waiter]], done: asyncio.Future[dict[K, V]]) -> None:
        """On the loop: hand each waiting decision its value (or the read's error), then read
        what gathered meanwhile."""
        self.reading = False
        try:
            values: dict[K, Any] = done.result()
        except BaseException as error:  # the read failed, or the executor shut down
            log.warning("%s: could not load %d entries: %r", self.name, len(batch), error)
            failure = error if isinstance(error, Exception) else RuntimeError(repr(error))
            values = dict.fromkeys(batch, failure)  # each decision refuses: unavailable
        if self.waiting:
            running.loop.call_soon(self.read)  # type: ignore[union-attr]  # it ran this
        for key, waiters in batch.items():
            value = values.get(key, LookupError(f"{self.name}: {key!r} was not loaded"))
            for waiter in waiters:
                try:
                    waiter.step(value)
                except Exception:  # answering it failed: the others still get theirs
                    log.exception("%s: could not resume a decision", self.name)
