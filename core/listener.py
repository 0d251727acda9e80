"""One Redis pub/sub listener per channel and process, with a heartbeat and a "deaf" signal.

A cache that is told about changes over pub/sub (apikeys' key records, the gateway's policies)
runs a `Listener`: a daemon thread, started lazily and again after a fork, that subscribes to the
channel, hands each message to ``on_message``, and PINGs every HEARTBEAT_SECONDS. Whenever it is
not sure it hears everything (before the first subscription, after a lost connection or three
silent heartbeats) it calls ``on_deaf``, so the cache drops what it holds; ``connected`` tells the
cache whether to trust entries for long.

On a Redis Cluster (REDIS_CLUSTER) it subscribes on the node that owns the channel's slot; a
PUBLISH on any node reaches the subscribers of every node.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings

from portal.redis_client import Redis, get_redis

HEARTBEAT_SECONDS = 1.0  # PING this often; three silent heartbeats mean the connection is dead
RECONNECT_DELAY_SECONDS = 0.5

log = logging.getLogger(__name__)


class _Process:
    """This process's id, read once and again in each forked child: every key lookup asks
    whether its listener runs in this process, and os.getpid() is a system call."""

    pid = os.getpid()

    @classmethod
    def forked(cls) -> None:
        cls.pid = os.getpid()


os.register_at_fork(after_in_child=_Process.forked)


class Listener:
    """Subscribes to a channel in a daemon thread of this process and reports what it hears."""

    def __init__(
        self, channel: str, on_message: Callable[[str], None], on_deaf: Callable[[], None]
    ) -> None:
        self.channel = channel
        self.on_message = on_message
        self._on_deaf = on_deaf
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._stopping = threading.Event()

    @property
    def connected(self) -> bool:
        """True while this process is subscribed and hearing heartbeats from Redis."""
        return self._pid == _Process.pid and self._connected.is_set()

    @property
    def running(self) -> bool:
        """Whether this process's thread was started (it may not be connected yet)."""
        return self._pid == _Process.pid

    def ensure_running(self) -> None:
        if self._pid == _Process.pid:
            return
        with self._lock:
            if self._pid == _Process.pid:
                return
            # New process (first use, or a fork: the parent's thread does not exist here).
            self._connected = threading.Event()
            self._stopping = threading.Event()
            self._on_deaf()  # anything inherited from the parent was cached without a listener
            self._thread = threading.Thread(
                target=self._run, name=f"listener {self.channel}", daemon=True
            )
            self._pid = _Process.pid
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (tests use it to restart the listener against another Redis)."""
        with self._lock:
            self._stopping.set()
            if self._thread is not None and self._pid == _Process.pid:
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
                    log.warning("Listener of %s lost Redis: %s", self.channel, error)
            except Exception:  # never let the thread die: the cache would trust stale entries
                log.exception("Listener of %s failed", self.channel)
            connected.clear()
            self._on_deaf()
            stopping.wait(RECONNECT_DELAY_SECONDS)

    def _listen(self, stopping: threading.Event, connected: threading.Event) -> None:
        client = subscriber_client(self.channel)
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.channel)
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
                self.on_message(data.decode("ascii", "replace"))


def subscriber_client(channel: str) -> redis.Redis:
    """A client of its own for one subscription, with timeouts that fit the heartbeat."""
    timeouts = {
        "socket_timeout": HEARTBEAT_SECONDS * 3,
        "socket_connect_timeout": HEARTBEAT_SECONDS,
    }
    if not settings.REDIS_CLUSTER:
        return redis.Redis.from_url(settings.REDIS_URL, **timeouts)
    cluster = redis.RedisCluster.from_url(settings.REDIS_URL, **timeouts)
    try:
        node = cluster.get_node_from_key(channel)
        # A client of the node's own, with the cluster's settings (credentials, TLS, timeouts).
        pool = cluster.get_redis_connection(node).connection_pool
        return redis.Redis(
            connection_pool=redis.ConnectionPool(
                connection_class=pool.connection_class, **pool.connection_kwargs
            )
        )
    finally:
        cluster.close()


class Channel:
    """A pub/sub channel whose messages also apply at once in the process that publishes them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.listener: Listener | None = None

    def listen(self, on_message: Callable[[str], None], on_deaf: Callable[[], None]) -> Listener:
        """This process's listener (one per channel; the cache that owns it calls this once)."""
        self.listener = Listener(self.name, on_message, on_deaf)
        return self.listener

    def publish(self, messages: list[str]) -> None:
        """Apply here at once, without waiting for the round trip, then tell every process.

        Best effort: a process whose listener lost the same Redis is deaf, and its cache already
        keeps entries only briefly.
        """
        if self.listener is not None:
            for message in messages:
                self.listener.on_message(message)
        try:
            publish_all(get_redis(), self.name, messages)
        except redis.RedisError as error:
            log.warning("Could not publish %d on %s: %s", len(messages), self.name, error)


def publish_all(client: Redis, channel: str, messages: list[str]) -> None:
    if isinstance(client, redis.RedisCluster):  # a cluster pipeline refuses PUBLISH
        for message in messages:
            client.publish(channel, message)
        return
    pipe = client.pipeline(transaction=False)
    for message in messages:
        pipe.publish(channel, message)
    pipe.execute()
