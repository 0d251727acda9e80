"""Tallied calls: calls that no limit could refuse, admitted without asking Redis.

A call is tallied when nothing about it is bounded: its plan has no per-second, per-minute or
period limit for the key's environment, its endpoint has no limits of its own and it spends no
prepaid credits. Checking such a call atomically would check nothing; Redis is only where it is
counted. So the auth process admits it on its loop and adds it to a tally in memory: per
account, environment and hour, the units for the period counter and the calls per usage field.
Once a second the worker's tick batches the tallies (``tally.lua``, up to BATCH_ENTRIES
entries and BATCH_FIELDS usage fields a batch) and sends them, one batch per loop iteration;
each adds its entries to the same period counters and usage hashes that ``limits.lua`` writes,
in one atomic script with a key of its own, so a batch sent again after a lost reply is applied
once. A batch Redis did not answer is sent again on the next tick.

A busy account costs one batch entry a second instead of a script per call (or leases and their
releases); a million accounts each calling now and then cost one entry per call, a few Redis
commands inside a shared script, and no round trip of the call's own.

Exactness: nothing is admitted that the plan would refuse, since it refuses nothing. The period
counter learns of tallied calls up to a second later; that matters only if the account is moved
to a plan with a quota meanwhile. Then the first call this process counts under the new plan
sends the tallies first, on the same connection, so Redis counts them before that call (the
pipeline keeps order). Calls another process tallied under the old plan before it heard of the
change reach the counter within a second, as the calls it admitted under the old plan until it
heard of it always did.

What it costs: usage reaches Redis up to a second later than a counted call's (as a lease's
does); an auth process killed with SIGKILL loses the usage of the calls it tallied in its last
second; SIGTERM sends every tally before the process exits. While the process has no
connection to Redis, or Redis did not answer its last batch, calls are decided call by call
again (and so by the gateway's Redis-down rules), and the tallies wait in memory to be sent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from core.redis_keys import tally_key
from gateway import pipelining
from gateway.counting import NO_WINDOW, Count, pack
from gateway.outbox import Outbox
from gateway.policy import NO_LIMIT, Limits
from portal.metrics import TALLIED_CALLS, TALLY_BATCHES_WAITING

TALLY_SCRIPT = (Path(__file__).parent / "tally.lua").read_text()
TALLY_SHA = hashlib.sha1(TALLY_SCRIPT.encode(), usedforsecurity=False).hexdigest()
# Tallies are batched once a second: a busy account's calls then cost one entry a second (with
# a field per key that called), as a lease's release does; their usage reaches Redis that much
# later, as a lease's does.
BATCH_SECONDS = 1.0
# A batch is packed in one loop iteration (one batch an iteration) and runs as one script, which
# blocks Redis while it runs (about a µs a field): a long one would hold up every call waiting
# behind it.
BATCH_ENTRIES, BATCH_FIELDS = 64, 256

# The answer for a tallied call: no window and no quota to describe, no credits spent.
UNCOUNTED = Count(True, "ok", NO_WINDOW, NO_WINDOW, 0)


def unbounded(limits: Limits) -> bool:
    return limits.per_second == limits.per_minute == limits.per_period == NO_LIMIT


# One account's tallied calls in one hour of one environment, as a batch sends them: (account
# id, counter keys (core.redis_keys.hour_keys), quota TTL, units, calls by usage field). A plain
# tuple: a NamedTuple's constructor cost more than the rest of the batching.
Entry = tuple[int, tuple[str, ...], int, int, dict[str, int]]


@dataclass(slots=True)
class Batch:
    """Entries sent together, until Redis has applied them."""

    entries: list[Entry]
    name: str  # its key (core.redis_keys.tally_key): applied once, however often sent
    by_eval: bool = False  # after NOSCRIPT: sent with the script's text
    sending: bool = False

    def command(self) -> bytes:
        keys: list[str] = [self.name]
        args: list[str | int] = []
        for _, counter_keys, quota_ttl, units, calls in self.entries:
            keys += counter_keys[2:5]  # the quota, the usage hash, the hours set
            args += (units, quota_ttl, len(calls))
            args += chain.from_iterable(calls.items())
        script = ("EVAL", TALLY_SCRIPT) if self.by_eval else ("EVALSHA", TALLY_SHA)
        return pack(*script, len(keys), *keys, *args)


class Tallies:
    """This process's tallies, on its event loop; ``tick`` sends them."""

    def __init__(self, pipeline: pipelining.Pipeline) -> None:
        self.pipeline = pipeline
        # By counter keys (core.redis_keys.hour_keys), until the next tick: calls per usage
        # field, units, and (account id, quota TTL). Plain dicts of strings and numbers, not an
        # object per entry: the collector does not track those, and objects that live a tick
        # would reach its oldest generation, whose passes over the caches' hundreds of
        # thousands of objects stopped the loop for up to half a second (the 1M-key bench).
        self.calls: dict[tuple[str, ...], dict[str, int]] = {}
        self.units: dict[tuple[str, ...], int] = {}
        self.owners: dict[tuple[str, ...], tuple[int, int]] = {}
        self.accounts: set[int] = set()  # those with calls not sent yet
        self.batches: Outbox[Batch] = Outbox(
            pipeline, 1, TALLY_BATCHES_WAITING, "a batch of tallied calls", self.applied
        )  # sent or waiting to be, not yet answered
        self.batch_at = 0.0  # when the tick batches the tallies next (unix seconds)
        self.tallied = 0  # for the bench and tests

    def add(
        self, account_id: int, keys: tuple[str, ...], usage_field: str, cost: int, quota_ttl: int
    ) -> None:
        """Count one admitted call of `cost` units (limits.lua's usage field and period units)."""
        calls = self.calls.get(keys)
        if calls is None:
            calls = self.calls[keys] = {}
            self.units[keys] = 0
            self.owners[keys] = (account_id, max(quota_ttl, 1))
            self.accounts.add(account_id)
        name = f"{usage_field}|ok" if cost == 1 else f"{usage_field}|ok|{cost}"
        calls[name] = calls.get(name, 0) + 1
        self.units[keys] += cost
        self.tallied += 1

    def before_counting(self, account_id: int) -> None:
        """Send the tallies now if this account has one: the call about to be counted by script
        (its plan has a limit now) must find them counted, so they go ahead of it."""
        if account_id in self.accounts:
            self.flush()

    def tick(self, now: float) -> None:
        """On the worker's timer (every 100 ms): batch the tallies once a second has passed
        since they were last batched, and send what Redis has not applied yet."""
        if now >= self.batch_at:
            self.batch_at = now + BATCH_SECONDS
            self.batch()
        self.batches.send()

    def flush(self) -> None:
        """Batch every tally and send every batch not sent yet, now (a plan with a limit, and
        the drain at SIGTERM)."""
        self.batch()
        self.batches.send(everything=True)

    def batch(self) -> None:
        if not self.calls:
            return
        owners, units, fields = self.owners, self.units, 0
        entries: list[Entry] = []
        TALLIED_CALLS.inc(sum(sum(calls.values()) for calls in self.calls.values()))
        for keys, calls in self.calls.items():
            if entries and (len(entries) == BATCH_ENTRIES or fields + len(calls) > BATCH_FIELDS):
                self.enqueue(entries)
                entries, fields = [], 0
            entries.append((owners[keys][0], keys, owners[keys][1], units[keys], calls))
            fields += len(calls)
        self.enqueue(entries)
        self.calls, self.units, self.owners, self.accounts = {}, {}, {}, set()

    def enqueue(self, entries: list[Entry]) -> None:
        self.batches.add(Batch(entries, tally_key(next(self.batches.names))))

    def applied(self, batch: Batch, reply: list[int]) -> None:
        fresh = {batch.entries[n - 1][0] for n in reply}  # the entries with a new usage hash
        if fresh:
            self.batches.mark_dirty(fresh)

    @property
    def settled(self) -> bool:
        return not self.calls and self.batches.settled


active: Tallies | None = None  # this process's, set by the auth server (gateway/worker.py)


def current() -> Tallies | None:
    """The tallies decisions may add to: on the auth server's loop while its connection to Redis
    is up and answers, never on a thread (nor in a decision replayed on one after Redis failed
    under it). Otherwise calls are counted by script, which connects, or meets the Redis-down
    rules."""
    running = pipelining.current()
    if active is None or running is None or isinstance(running, pipelining.FailedRoundTrip):
        return None
    return None if active.batches.failing or active.pipeline.link is None else active
