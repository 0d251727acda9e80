"""Concurrent decisions of one auth process share Redis round trips (gateway/server.py).

The asyncio server runs each decision (``gateway.decide.decide``, unchanged) in a greenlet on
its event loop. When the decision sends a command (``gateway.counting.send``: the ``EVALSHA``,
and the rare ``SADD`` of a new usage hash), the command joins this process's ``Pipeline`` and
the greenlet hands the loop back; once the loop has taken in what arrived (every decision ready
in that iteration), the commands written meanwhile leave in one ``write`` on one connection,
and each greenlet resumes with its own reply, in order. Each decision is still its own atomic
script call, and Redis runs them one after another exactly as if each had come in a round trip
of its own, so exactness is untouched; only the round trips are shared.

Failures reach the decision as redis-py's exceptions, as they do on a thread's connection
(``counting.thread_connection``): a connection that cannot be made, or that breaks, raises
``ConnectionError`` in every decision waiting on it; a reply later than
``SOCKET_TIMEOUT_SECONDS`` raises ``TimeoutError`` and drops the connection (the replies still
owed could not be matched any more); ``NOSCRIPT`` raises ``NoScriptError``. The next command
reconnects. A closed connection is seen at once (the loop reads its end), so no command is
written on a socket Redis has closed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

import greenlet
import hiredis
import redis

from portal.redis_client import SOCKET_TIMEOUT_SECONDS

log = logging.getLogger(__name__)

WAITING = object()  # what a decision greenlet hands the loop when it waits for Redis
FINISHED = object()  # ... and, with the decision's result, when it is done
IDLE_GREENLETS = 256  # kept for reuse; more exist only while that many decisions wait at once


class DecisionGreenlet(greenlet.greenlet):  # type: ignore[misc]  # untyped
    """Runs decisions on the event loop, one after another; ``counting.send`` finds its
    pipeline here. Reused (``Pipeline.decision``): making a greenlet and running it to its end
    costs about 7 µs, a quarter of a decision's own work, while switching into a waiting one
    costs half a microsecond.

    For the decision running now, ``sent`` says whether a command of it may have reached Redis:
    until then it can be run again from the start (in a thread) without counting anything
    twice. ``failure`` is the Redis error a command of it got, if any.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__(self.serve)
        self.pipeline = pipeline
        self.on_done: Callable[[Any], None] | None = None
        self.sent = False
        self.failure: BaseException | None = None

    def serve(self, job: tuple[Callable[[], Any], Callable[[Any], None]]) -> None:
        """The greenlet's body: run each job handed to it, hand back what it returned."""
        while True:
            run, self.on_done = job
            self.sent, self.failure = False, None
            job = self.parent.switch((FINISHED, run()))

    def start(self, run: Callable[[], Any], on_done: Callable[[Any], None]) -> None:
        """Run one decision until it waits for Redis or ends; ``on_done`` receives what ``run``
        returned (from the loop only)."""
        self.handle(self.switch((run, on_done)))

    def step(self, reply: Any = None) -> None:
        """Resume the decision with its reply, until it waits for Redis again or ends."""
        self.handle(self.switch(reply))

    def handle(self, outcome: Any) -> None:
        if outcome is WAITING:
            return
        _, result = outcome
        on_done, self.on_done = self.on_done, None
        assert on_done is not None
        on_done(result)
        self.pipeline.release(self)

    def round_trip(self, command: bytes) -> Any:
        """Inside the decision: send one packed command and wait for its reply, the loop
        serving other calls meanwhile."""
        self.pipeline.submit(command, self)
        try:
            return self.wait()
        except redis.RedisError as error:
            self.failure = error
            raise

    def wait(self) -> Any:
        """Inside the decision: hand the loop back until ``step`` resumes it (a Redis reply,
        or a first load's value: core.first_loads); return what it was given, or raise it."""
        reply = self.parent.switch(WAITING)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class FailedRoundTrip(DecisionGreenlet):
    """A decision run again on a thread after Redis failed under it on the loop and it then
    needed the database (GATEWAY_ON_REDIS_DOWN=allow records the call in a row): its command
    fails again at once, as it did, instead of being sent a second time."""

    def __init__(self, run: Callable[[], Any], failure: BaseException) -> None:
        greenlet.greenlet.__init__(self, run)
        self.sent = True
        self.failure = failure

    def round_trip(self, command: bytes) -> Any:
        assert self.failure is not None
        raise self.failure


def current() -> DecisionGreenlet | None:
    """The decision greenlet running now, or None in a thread (which blocks for its reply)."""
    running = greenlet.getcurrent()
    return running if isinstance(running, DecisionGreenlet) else None


def on_loop() -> DecisionGreenlet | None:
    """The decision greenlet running on the loop now, which can wait for a first load, spend a
    lease or add to the tallies; not a ``FailedRoundTrip``, which runs on a thread (replayed
    there after Redis failed under it)."""
    running = greenlet.getcurrent()
    return running if type(running) is DecisionGreenlet else None


Waiter = DecisionGreenlet | Callable[[Any], None]  # a decision, or a check of a set-up reply


def deliver(waiter: Waiter, reply: Any) -> None:
    if isinstance(waiter, DecisionGreenlet):
        waiter.step(reply)
    else:
        waiter(reply)


def reply_error(error: hiredis.ReplyError) -> redis.RedisError:
    """redis-py's exception for an error reply, as its own parser would raise it."""
    message = str(error)
    if message.startswith("NOSCRIPT"):
        return redis.exceptions.NoScriptError(message)
    return redis.ResponseError(message)


class Link(asyncio.Protocol):
    """One connection to Redis: the replies it owes, in the order their commands left."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.waiting: collections.deque[tuple[Waiter, float]] = collections.deque()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiting = self.waiting
        while not self.closed and (reply := self.reader.gets()) is not False:
            if not waiting:
                self.drop(redis.ConnectionError("Redis sent a reply nobody asked for"))
                return
            waiter, _ = waiting.popleft()
            deliver(waiter, reply_error(reply) if isinstance(reply, hiredis.ReplyError) else reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.drop(redis.ConnectionError(f"Redis closed the connection ({exc or 'EOF'})"))

    def drop(self, error: redis.RedisError) -> None:
        """Close (the replies still owed could no longer be matched) and fail their waiters."""
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        self.pipeline.lost(self)
        while self.waiting:
            waiter, _ = self.waiting.popleft()
            deliver(waiter, error)


class Pipeline:
    """This process's Redis connection on its event loop, carrying every decision's commands:
    written together once per loop iteration, each reply handed back to its own decision."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connection_kwargs: dict[str, Any]) -> None:
        self.loop = loop
        self.kwargs = connection_kwargs
        self.link: Link | None = None
        self.connecting = False
        self.unsent: list[bytes] = []
        self.unsent_waiters: list[Waiter] = []
        self.flush_scheduled = False
        self.timer: asyncio.TimerHandle | None = None
        self.writes = 0  # round trips (one write each) and commands written, for the bench
        self.commands = 0
        self.idle: list[DecisionGreenlet] = []

    def decision(self) -> DecisionGreenlet:
        """A greenlet to run a decision on: an idle one, else a new one."""
        return self.idle.pop() if self.idle else DecisionGreenlet(self)

    def release(self, decision: DecisionGreenlet) -> None:
        if len(self.idle) < IDLE_GREENLETS:
            self.idle.append(decision)

    def submit(self, command: bytes, waiter: Waiter) -> None:
        self.unsent.append(command)
        self.unsent_waiters.append(waiter)
        if self.link is None:
            if not self.connecting:
                self.connecting = True
                self.loop.create_task(self.connect())
        elif not self.flush_scheduled:
            self.flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_scheduled = False
        link = self.link
        if link is None or link.transport is None or not self.unsent:
            return
        sent_at = time.monotonic()
        for waiter in self.unsent_waiters:
            if isinstance(waiter, DecisionGreenlet):
                waiter.sent = True
            link.waiting.append((waiter, sent_at))
        link.transport.write(b"".join(self.unsent))
        self.writes += 1
        self.commands += len(self.unsent)
        self.unsent.clear()
        self.unsent_waiters.clear()
        if self.timer is None:
            self.timer = self.loop.call_later(SOCKET_TIMEOUT_SECONDS, self.check_timeout)

    async def connect(self) -> None:
        kwargs, link = self.kwargs, Link(self)
        try:
            async with asyncio.timeout(kwargs.get("socket_connect_timeout") or 1.0):
                if kwargs.get("path"):
                    await self.loop.create_unix_connection(lambda: link, kwargs["path"])
                else:
                    host, port = kwargs.get("host", "localhost"), kwargs.get("port", 6379)
                    await self.loop.create_connection(lambda: link, host, port)
        except (OSError, TimeoutError) as error:
            self.connecting = False
            self.fail_unsent(redis.ConnectionError(f"Error connecting to Redis: {error}"))
            return
        self.connecting = False
        self.link = link
        self.unsent[:0], self.unsent_waiters[:0] = self.set_up()
        self.flush()

    def set_up(self) -> tuple[list[bytes], list[Waiter]]:
        """AUTH and SELECT ahead of the first commands, as redis-py's connection sends them."""
        commands: list[tuple[str | int, ...]] = []
        password, username = self.kwargs.get("password"), self.kwargs.get("username")
        if password:
            commands.append(("AUTH", username, password) if username else ("AUTH", password))
        if self.kwargs.get("db"):
            commands.append(("SELECT", self.kwargs["db"]))
        packed = [hiredis.pack_command(c) for c in commands]  # type: ignore[arg-type]
        return packed, [self.check_set_up] * len(packed)

    def check_set_up(self, reply: Any) -> None:
        if isinstance(reply, BaseException) and self.link is not None:
            log.warning("gateway: Redis refused the connection's set-up: %s", reply)
            self.link.drop(redis.ConnectionError(f"Redis refused the set-up: {reply}"))

    def lost(self, link: Link) -> None:
        if self.link is link:
            self.link = None
            if self.unsent and not self.connecting:
                self.connecting = True
                self.loop.create_task(self.connect())

    def check_timeout(self) -> None:
        self.timer = None
        link = self.link
        if link is None or not link.waiting:
            return
        waited = time.monotonic() - link.waiting[0][1]
        if waited >= SOCKET_TIMEOUT_SECONDS:
            log.warning("gateway: no reply from Redis in %s s; reconnecting", waited)
            link.drop(redis.TimeoutError("Timeout reading from Redis"))
            return
        self.timer = self.loop.call_later(SOCKET_TIMEOUT_SECONDS - waited, self.check_timeout)

    def fail_unsent(self, error: redis.RedisError) -> None:
        waiters = list(self.unsent_waiters)
        self.unsent.clear()
        self.unsent_waiters.clear()
        for waiter in waiters:
            deliver(waiter, error)
