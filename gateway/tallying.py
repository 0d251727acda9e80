"""Tallied calls: calls that no limit could refuse, admitted without asking Redis.

A call is tallied when nothing about it is bounded: its plan has no per-second, per-minute or
period limit for the key's environment, its endpoint has no limits of its own and it spends no
prepaid credits. Checking such a call atomically would check nothing; Redis is only where it is
counted. So the auth process admits it on its loop and adds it to a tally in memory: per
account, environment and hour, the units for the period counter and the calls per usage field.
Once a second the worker's tick closes the tallies and starts new ones; the closed ones are
batched and sent one batch per loop iteration (``tally.lua``, up to BATCH_ENTRIES entries and
BATCH_FIELDS usage fields a batch), so the calls arriving meanwhile are not held up. Each adds
its entries to the same period counters and usage hashes that ``limits.lua`` writes, in one
atomic script with a key of its own, so a batch sent again after a lost reply is applied
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


@dataclass(slots=True)
class Batch:
    """Entries sent together, until Redis has applied them. Each entry is one account's tallied
    calls in one hour of one environment: its counter keys (the quota, the usage hash, the hours
    set) and their arguments (units, quota TTL, and calls by usage field).

    The entries are kept as tally.lua's key count, keys and arguments in one flat tuple of
    strings and numbers, which the collector stops tracking at its next pass: a tuple per entry
    lived until its batch was answered, long enough to reach the collector's oldest generation,
    and thousands of them a second made it run its full passes (0.2 s over the caches of the
    1M-key bench) every few seconds.
    """

    accounts: tuple[int, ...]  # each entry's account, in order (tally.lua answers entry numbers)
    parts: tuple[str | int, ...]
    name: str  # its key (core.redis_keys.tally_key): applied once, however often sent
    by_eval: bool = False  # after NOSCRIPT: sent with the script's text
    sending: bool = False

    def command(self) -> bytes:
        script = ("EVAL", TALLY_SCRIPT) if self.by_eval else ("EVALSHA", TALLY_SHA)
        return pack(*script, *self.parts)


class Period:
    """One batching period's tallies: an entry per counter keys (core.redis_keys.hour_keys), in
    parallel lists by entry number (its account, quota TTL, units, and calls per usage field),
    found through one map, whose keys in order are the entries' counter keys. Lists of strings
    and numbers, not an object per entry: the collector does not track those (see Batch). One
    lookup a call: in a gateway serving many accounts nearly every call starts an entry, and
    each of four maps keyed by the same tuple of five names cost a hash of it and a miss to
    memory (bench (h))."""

    __slots__ = ("accounts", "calls", "index", "keys", "owners", "position", "tallied", "ttls",
                 "units")  # fmt: skip

    def __init__(self) -> None:
        self.index: dict[tuple[str, ...], int] = {}  # counter keys → entry number
        self.keys: list[tuple[str, ...]] = []  # once closed: each entry's counter keys
        self.owners: list[int] = []  # each entry's account
        self.ttls: list[int] = []
        self.units: list[int] = []
        self.calls: list[dict[str, int]] = []
        self.accounts: set[int] = set()  # the accounts with an entry
        self.position = 0  # once closed: the first entry not batched yet
        self.tallied = 0  # calls

    def add(
        self, account_id: int, keys: tuple[str, ...], usage_field: str, cost: int, quota_ttl: int
    ) -> None:
        entry = self.index.get(keys)
        if entry is None:
            entry = self.index[keys] = len(self.owners)
            self.owners.append(account_id)
            self.ttls.append(max(quota_ttl, 1))
            self.units.append(0)
            self.calls.append({})
            self.accounts.add(account_id)
        name = f"{usage_field}|ok" if cost == 1 else f"{usage_field}|ok|{cost}"
        calls = self.calls[entry]
        calls[name] = calls.get(name, 0) + 1
        self.units[entry] += cost
        self.tallied += 1

    def close(self) -> None:
        self.keys = list(self.index)
        TALLIED_CALLS.inc(self.tallied)

    @property
    def batched(self) -> bool:
        return self.position == len(self.index)

    def next_batch(self, name: str) -> Batch:
        """The next entries of a closed period: at most BATCH_ENTRIES, and BATCH_FIELDS usage
        fields unless a single entry has more. (Locals, not attributes, in the loop: it runs
        once per account and second, a call's worth of work in a million-key gateway.)"""
        counter_keys, owners, ttls, units, every_calls = (
            self.keys, self.owners, self.ttls, self.units, self.calls
        )  # fmt: skip
        accounts: list[int] = []
        keys: list[str] = []
        args: list[str | int] = []
        fields, position = 0, self.position
        end = min(position + BATCH_ENTRIES, len(counter_keys))
        while position < end:
            calls = every_calls[position]
            if accounts and fields + len(calls) > BATCH_FIELDS:
                break
            accounts.append(owners[position])
            keys += counter_keys[position][2:5]  # the quota, the usage hash, the hours set
            args += (units[position], ttls[position], len(calls))
            for field_and_calls in calls.items():
                args += field_and_calls
            fields += len(calls)
            position += 1
        self.position = position
        return Batch(tuple(accounts), (len(keys) + 1, name, *keys, *args), name)


class Tallies:
    """This process's tallies, on its event loop; ``tick`` sends them."""

    def __init__(self, pipeline: pipelining.Pipeline) -> None:
        self.pipeline = pipeline
        self.open = Period()  # this second's, added to
        self.closed: Period | None = None  # the last second's, being batched
        self.batching = False  # batch_next is scheduled
        self.batches: Outbox[Batch] = Outbox(
            pipeline, 1, TALLY_BATCHES_WAITING, "a batch of tallied calls", self.applied
        )  # sent or waiting to be, not yet answered
        self.batch_at = 0.0  # when the tick batches the tallies next (unix seconds)
        self.tallied = 0  # for the bench and tests

    def add(
        self, account_id: int, keys: tuple[str, ...], usage_field: str, cost: int, quota_ttl: int
    ) -> None:
        """Count one admitted call of `cost` units (limits.lua's usage field and period units)."""
        self.open.add(account_id, keys, usage_field, cost, quota_ttl)
        self.tallied += 1

    def before_counting(self, account_id: int) -> None:
        """Send the tallies now if this account has one: the call about to be counted by script
        (its plan has a limit now) must find them counted, so they go ahead of it."""
        closed = self.closed
        if account_id in self.open.accounts or (
            closed is not None and account_id in closed.accounts
        ):
            self.flush()

    def tick(self, now: float) -> None:
        """On the worker's timer (every 100 ms): close the tallies once a second has passed
        since they were last closed, and send what Redis has not applied yet."""
        if now >= self.batch_at:
            self.batch_at = now + BATCH_SECONDS
            self.close()
        self.batches.send()

    def close(self) -> None:
        """Start a new period and batch the one closed, a batch per loop iteration: batching a
        second of a hundred thousand accounts' calls at once held every call up for ~10 ms."""
        if not self.open.index:
            return
        self.batch_closed()  # what is left of the last one (when a second was not enough)
        self.closed, self.open = self.open, Period()
        self.closed.close()
        if not self.batching:
            self.batching = True
            self.pipeline.loop.call_soon(self.batch_next)

    def batch_next(self) -> None:
        self.batching = False
        if self.closed is None:
            return
        self.enqueue_next()
        self.batches.send()
        if self.closed is not None:
            self.batching = True
            self.pipeline.loop.call_soon(self.batch_next)

    def batch_closed(self) -> None:
        """Batch what is left of the closed period, now."""
        while self.closed is not None:
            self.enqueue_next()

    def enqueue_next(self) -> None:
        """The closed period's next batch; the period is let go once all of it is batched."""
        closed = self.closed
        assert closed is not None
        self.batches.add(closed.next_batch(tally_key(next(self.batches.names))))
        if closed.batched:
            self.closed = None

    def flush(self) -> None:
        """Batch every tally and send every batch not sent yet, now (a plan with a limit, and
        the drain at SIGTERM)."""
        self.close()
        self.batch_closed()
        self.batches.send(everything=True)

    def applied(self, batch: Batch, reply: list[int]) -> None:
        fresh = {batch.accounts[n - 1] for n in reply}  # the entries with a new usage hash
        if fresh:
            self.batches.mark_dirty(fresh)

    @property
    def settled(self) -> bool:
        return not self.open.index and self.closed is None and self.batches.settled


active: Tallies | None = None  # this process's, set by the auth server (gateway/worker.py)


def current() -> Tallies | None:
    """The tallies decisions may add to: on the auth server's loop while its connection to Redis
    is up and answers, never on a thread (nor in a decision replayed on one after Redis failed
    under it). Otherwise calls are counted by script, which connects, or meets the Redis-down
    rules."""
    if active is None or pipelining.on_loop() is None:
        return None
    return None if active.batches.failing or active.pipeline.link is None else active
