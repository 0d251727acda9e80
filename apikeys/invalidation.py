"""Cross-process invalidation of the key record cache through Redis pub/sub.

A revoke, rotate or edit publishes the key's hash on CHANNEL once its transaction commits. Every
process that serves ``records.lookup`` runs a `Listener` (a daemon thread, started lazily and again
after a fork) that drops the entry it hears about, so a revoked key stops working everywhere within
a second. While the listener cannot hear Redis it says so, and the cache only keeps entries for a
short fallback TTL instead of trusting what it holds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable

import redis
from django.conf import settings
from django.db import transaction

from portal.redis_client import get_redis

CHANNEL = "tg:apikeys:invalidate"
HEARTBEAT_SECONDS = 1.0  # PING this often; three silent heartbeats mean the connection is dead
RECONNECT_DELAY_SECONDS = 0.5

log = logging.getLogger(__name__)


def publish_on_commit(key_hashes: Iterable[str]) -> None:
    hashes = list(key_hashes)
    if hashes:
        transaction.on_commit(lambda: publish(hashes))


def publish(key_hashes: list[str]) -> None:
    from apikeys.records import cache

    for key_hash in key_hashes:  # this process at once, without waiting for the round trip
        cache.forget(key_hash)
    try:
        pipe = get_redis().pipeline(transaction=False)
        for key_hash in key_hashes:
            pipe.publish(CHANNEL, key_hash)
        pipe.execute()
    except redis.RedisError as error:
        # Listeners that lost the same Redis already serve from their short fallback TTL.
        log.warning("Could not publish %d key invalidation(s): %s", len(key_hashes), error)


class Listener:
    """Subscribes to CHANNEL in a daemon thread of this process and reports what it hears."""

    def __init__(self, on_invalidate: Callable[[str], None], on_deaf: Callable[[], None]) -> None:
        self._on_invalidate = on_invalidate
        self._on_deaf = on_deaf
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._stopping = threading.Event()

    @property
    def connected(self) -> bool:
        """True while this process is subscribed and hearing heartbeats from Redis."""
        return self._pid == os.getpid() and self._connected.is_set()

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # New process (first use, or a fork: the parent's thread does not exist here).
            self._connected = threading.Event()
            self._stopping = threading.Event()
            self._on_deaf()  # anything inherited from the parent was cached without a listener
            self._thread = threading.Thread(
                target=self._run, name="apikeys-invalidation", daemon=True
            )
            self._pid = os.getpid()
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (tests use it to restart the listener against another Redis)."""
        with self._lock:
            self._stopping.set()
            if self._thread is not None and self._pid == os.getpid():
                self._thread.join(timeout)
            self._thread = None
            self._pid = None
            self._connected.clear()

    def wait_until_connected(self, timeout: float = 5.0) -> bool:
        return self._connected.wait(timeout)

    def _run(self) -> None:
        stopping, connected = self._stopping, self._connected
        while not stopping.is_set():
            try:
                self._listen(stopping, connected)
            except (redis.RedisError, OSError) as error:
                if connected.is_set():
                    log.warning("Key invalidation listener lost Redis: %s", error)
            except Exception:  # never let the thread die: lookups would trust stale entries
                log.exception("Key invalidation listener failed")
            connected.clear()
            self._on_deaf()
            stopping.wait(RECONNECT_DELAY_SECONDS)

    def _listen(self, stopping: threading.Event, connected: threading.Event) -> None:
        client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=HEARTBEAT_SECONDS * 3,
            socket_connect_timeout=HEARTBEAT_SECONDS,
        )
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(CHANNEL)
            last_heard = last_ping = time.monotonic()
            while not stopping.is_set():
                message = pubsub.get_message(timeout=HEARTBEAT_SECONDS / 4)
                now = time.monotonic()
                if message is not None:
                    last_heard = now
                    self._handle(message, connected)
                if now - last_ping >= HEARTBEAT_SECONDS:
                    pubsub.ping()
                    last_ping = now
                if now - last_heard > HEARTBEAT_SECONDS * 3:
                    raise redis.ConnectionError("no heartbeat from Redis")
        finally:
            pubsub.close()
            client.close()

    def _handle(self, message: dict[str, object], connected: threading.Event) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            # Entries cached while nobody listened may be stale: start from empty.
            self._on_deaf()
            connected.set()
        elif kind == "message":
            data = message.get("data")
            if isinstance(data, bytes):
                self._on_invalidate(data.decode("ascii", "replace"))
