"""Scripts an auth process must have Redis apply exactly once: leases' releases
(gateway/leasing.py) and batches of tallied calls (gateway/tallying.py).

Each message sets a key of its own in its script, so one sent again after a lost reply is a
no-op there. The outbox keeps a message until Redis has answered it: a connection that failed
under it sends it again on the next ``send``, a ``NOSCRIPT`` (Redis restarted) with the script's
text. Messages go over the process's pipeline a few per loop iteration, since packing hundreds
at once would hold up the calls waiting behind them.
"""

from __future__ import annotations

import itertools
import logging
import os
import uuid
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Generic, Protocol, TypeVar

import redis
from prometheus_client import Gauge

from core.redis_keys import DIRTY_ACCOUNTS
from gateway import pipelining
from gateway.counting import pack

log = logging.getLogger(__name__)


class Message(Protocol):
    name: str  # the key its script sets: applied once, however often sent
    by_eval: bool  # after NOSCRIPT: sent with the script's text
    sending: bool  # sent, and not answered yet

    def command(self) -> bytes: ...


M = TypeVar("M", bound=Message)


class Outbox(Generic[M]):
    def __init__(
        self,
        pipeline: pipelining.Pipeline,
        per_iteration: int,
        waiting: Gauge,
        what: str,
        on_applied: Callable[[M, Any], None],
    ) -> None:
        self.pipeline = pipeline
        self.per_iteration = per_iteration
        self.waiting = waiting  # the gauge of messages Redis has not applied yet
        self.what = what  # for the log: "a lease's release"
        self.on_applied = on_applied  # with Redis's answer to it
        self.unapplied: dict[str, M] = {}  # by name, oldest first
        self.failing = False  # the last answer was a lost connection or a timeout
        # Names for the messages' keys, unique to this process: "<pid>:<random>:<n>".
        self.names = (f"{os.getpid()}:{uuid.uuid4().hex[:12]}:{n}" for n in itertools.count())

    def add(self, message: M) -> None:
        self.unapplied[message.name] = message
        self.waiting.set(len(self.unapplied))

    def send(self, *, everything: bool = False) -> None:
        """Send the messages not sent yet: ``per_iteration`` now and as many more in each loop
        iteration after (every one of them now, when asked to)."""
        waiting = [m for m in self.unapplied.values() if not m.sending]
        for message in waiting if everything else waiting[: self.per_iteration]:
            message.sending = True
            self.pipeline.submit(message.command(), partial(self.answered, message))
        if len(waiting) > self.per_iteration and not everything:
            self.pipeline.loop.call_soon(self.send)

    def answered(self, message: M, reply: Any) -> None:
        message.sending = False
        if isinstance(reply, redis.exceptions.NoScriptError):
            message.by_eval = True  # Redis restarted: the next send goes with the text
            return
        if isinstance(reply, (redis.ConnectionError, redis.TimeoutError)):
            self.failing = True  # sent again next time; its key makes a second arrival a no-op
            return
        self.failing = False
        del self.unapplied[message.name]
        self.waiting.set(len(self.unapplied))
        if isinstance(reply, BaseException):
            log.error("gateway: Redis refused %s (%s); its usage is lost", self.what, reply)
        else:
            self.on_applied(message, reply)

    @property
    def settled(self) -> bool:
        return not self.unapplied

    def mark_dirty(self, account_ids: Iterable[int]) -> None:
        """New usage hashes of these accounts: tell the flush, as counting.mark_dirty does (its
        reply is not awaited: a failure is the hourly sweep's to make up for)."""
        self.pipeline.submit(pack("SADD", DIRTY_ACCOUNTS, *sorted(account_ids)), _ignore)


def _ignore(_reply: Any) -> None:
    """A dirty mark's reply."""
