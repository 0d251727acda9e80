"""Leased allowance: a busy account's calls admitted by its auth process without asking Redis.

A lease lasts a term: the 100 ms bucket of limits.lua's per-second window when the plan has a
per-second limit, else a second. When an account made calls in its previous term on this
process, the call that finds no lease asks ``limits.lua`` for one with its own check: up to
twice as many calls as that term saw (``GATEWAY_LEASE_MAX_CALLS`` at most), never more than a
quarter of what is left in every rolling window of the plan, and, under a hard-capped quota, a
quarter of what is left and only while at least 1,000 units are. The script counts the leased
calls as admitted, in the current buckets and in the quota, so every other decision, on any
process or host, sees them used: nothing can over-admit. Until the term ends, the process admits
that many more calls of the account on its own (``Holding.spend``); each is counted in its usage
field in memory.

After the term, ``Leases.tick`` closes the lease: ``release.lua`` gives back the calls not spent
(the buckets' slots, while the rolling windows still hold them, and the quota) and adds the
spent ones to the hour's usage hash, in one atomic script with a key of its own, so a release
retried after a lost reply is applied once. A release Redis did not answer is sent again on the
next tick until it is. A lease is spent until its term ends even if Redis has gone meanwhile
(its calls were counted when it was granted); only then do the Redis-down rules apply.

Why exactness holds: a leased call is spent inside the buckets it was counted in (a term lies
in one 100 ms bucket, or in one 6 s bucket of the per-minute window), so the rolling windows
count it where it happened (a little earlier, which only refuses sooner); a call refused because
another process holds an unspent lease is refused at most a term early. Not leased, and so
decided call by call: calls that spend prepaid credits, weighted calls (cost above 1), calls to
endpoints with limits of their own, calls decided on a thread (Redis Cluster, TLS, a cache
miss), and a hard cap's last 1,000 units.

What it costs: the usage of calls spent on a lease reaches Redis up to a term (and a tick) later
than a counted call's; an auth process killed with SIGKILL loses the usage of the calls it spent
on leases not yet closed (at most one lease per account), and the calls it leased but did not
spend stay counted against the account (the rolling windows forget them within a window's
length; the quota keeps them). SIGTERM releases every lease before the process exits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.redis_keys import release_key
from gateway import pipelining
from gateway.counting import NO_WINDOW, Count, Window, pack
from gateway.outbox import Outbox
from gateway.policy import NO_LIMIT, Limits
from portal.metrics import LEASE_RELEASES_WAITING, LEASED_CALLS

# A lease's term: limits.lua's 100 ms bucket under a per-second limit (a leased call must be
# spent in the bucket it was counted in); otherwise a second, which lies within one of the
# per-minute window's 6 s buckets and bounds how late a leased call's usage reaches Redis.
TERM_MS_PER_SECOND_LIMIT, TERM_MS = 100, 1000
TICK_MS = 100  # the timer that closes leases whose term is over
IDLE_MS = 5000  # a holding with nothing leased, unreleased or asked is forgotten after this
RELEASES_PER_ITERATION = 32  # then the loop serves calls before the next ones are sent


def term_of(limits: Limits, account_id: int) -> tuple[int, int]:
    """(term length, offset) in ms: a term is (time + offset) // length. Terms of a plan
    without rate windows start at one of ten offsets, by account, so that the leases of many
    accounts do not all close and renew in the same tick (with windows, terms follow their
    buckets)."""
    if limits.per_second != NO_LIMIT:
        return TERM_MS_PER_SECOND_LIMIT, 0
    if limits.per_minute != NO_LIMIT:
        return TERM_MS, 0
    return TERM_MS, account_id % 10 * TICK_MS


RELEASE_SCRIPT = (Path(__file__).parent / "release.lua").read_text()
RELEASE_SHA = hashlib.sha1(RELEASE_SCRIPT.encode(), usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class Release:
    """A closed lease, until Redis has applied it."""

    account_id: int
    keys: tuple[str, ...]  # the leasing call's counter keys (core.redis_keys.hour_keys)
    limits: Limits
    started_ms: int  # the leasing call's time: its buckets are the ones the lease counted in
    unspent: int
    usage: dict[str, int]
    name: str  # its key (core.redis_keys.release_key): applied once, however often sent
    by_eval: bool = False  # after NOSCRIPT: sent with the script's text
    sending: bool = False  # sent, and not answered yet

    def command(self) -> bytes:
        quota, usage, hours = self.keys[2:5]
        windows, buckets = [], []
        if self.limits.per_second != NO_LIMIT:
            windows.append(self.keys[0])
            buckets.append(self.started_ms // 100)
        if self.limits.per_minute != NO_LIMIT:
            windows.append(self.keys[1])
            buckets.append(self.started_ms // 6000)
        buckets += [-1] * (2 - len(buckets))
        keys = [quota, usage, hours, self.name, *windows]
        fields = [part for pair in self.usage.items() for part in pair]
        script = ("EVAL", RELEASE_SCRIPT) if self.by_eval else ("EVALSHA", RELEASE_SHA)
        return pack(*script, len(keys), *keys, self.unspent, *buckets, *fields)


@dataclass(slots=True)
class Holding:
    """One account's (one environment's) calls on this process: its lease, if any, and how
    many calls it made per term, which sizes the next lease."""

    key: tuple[int, str]  # (account id, environment)
    term: int = -1  # the lease's term (while `left` or `usage`), see term_of
    span: int = TERM_MS
    ends_ms: int = 0  # when the term ends
    started_ms: int = 0  # when the leasing call was decided
    seen_term: int = -1  # the term of `calls`, in `seen_span` ms
    seen_span: int = TERM_MS
    calls: int = 0  # calls of this account decided here in `seen_term`, leased or not
    previous: int = 0  # ... in the term before it
    asking: bool = False  # a call of it is waiting for a lease from Redis
    left: int = 0  # leased calls not spent yet
    keys: tuple[str, ...] = ()
    limits: Limits | None = None
    count: Count | None = None  # the leasing call's answer (the whole lease counted in it)
    counted_ms: int = 0
    usage: dict[str, int] = field(default_factory=dict)  # spent calls by usage field

    def note(self, term: int, span: int) -> None:
        """A call of the account in `term` of `span` ms (every call that could be leased)."""
        if term != self.seen_term or span != self.seen_span:
            self.previous = self.calls if term == self.seen_term + 1 else 0
            self.calls, self.seen_term, self.seen_span = 0, term, span
        self.calls += 1

    def spend(
        self, term: int, keys: tuple[str, ...], limits: Limits, usage_field: str, now_ms: int
    ) -> Count | None:
        """Admit one call on the lease, or None when it has none left for this call."""
        if not self.left or self.term != term or self.keys != keys:
            return None
        if self.limits is not limits and self.limits != limits:
            return None  # the plan changed: the next lease will be taken under the new one
        self.left -= 1
        self.usage[usage_field] = self.usage.get(usage_field, 0) + 1
        return self.seen(now_ms)

    def want(self, cap: int) -> int:
        """Calls to lease with this call: twice the account's pace here (its previous term's
        calls, or this one's so far), if that is 2 or more; 0 while another call asks. An
        account making a call a term or less is decided call by call: a lease would cost it
        a release per call."""
        demand = max(self.previous, self.calls - 1)
        if self.asking or demand < 2:
            return 0
        return min(cap, 2 * demand)

    def seen(self, now_ms: int) -> Count:
        """The answer for the call just admitted: the leasing call's, less what is still
        leased, so RateLimit-* and X-Quota-* count the calls made, not the ones reserved."""
        count, left, elapsed = self.count, self.left, now_ms - self.counted_ms
        assert count is not None
        return Count(
            True, "ok", made(count.second, left, elapsed), made(count.minute, left, elapsed),
            count.period - left,
        )  # fmt: skip


def made(window: Window, left: int, elapsed_ms: int) -> Window:
    if window is NO_WINDOW:
        return NO_WINDOW
    return Window(window.used - left, max(0, window.reset_ms - elapsed_ms), 0)


class Leases:
    """This process's holdings, on its event loop; ``tick`` closes leases as terms end."""

    def __init__(self, pipeline: pipelining.Pipeline, cap: int) -> None:
        self.pipeline = pipeline
        self.cap = cap
        self.holdings: dict[tuple[int, str], Holding] = {}
        self.open: dict[tuple[int, str], Holding] = {}  # those holding a lease or usage
        self.ticks = 0
        # Closed, sent or waiting to be, not yet answered.
        self.releases: Outbox[Release] = Outbox(
            pipeline, RELEASES_PER_ITERATION, LEASE_RELEASES_WAITING, "a lease's release",
            self.applied,
        )  # fmt: skip
        self.leased = self.spent = 0  # for the bench and tests

    def holding(self, account_id: int, environment: str) -> Holding:
        key = (account_id, environment)
        holding = self.holdings.get(key)
        if holding is None:
            holding = self.holdings[key] = Holding(key)
        return holding

    def granted(
        self,
        holding: Holding,
        count: Count,
        keys: tuple[str, ...],
        limits: Limits,
        term: int,
        span: int,
        ends_ms: int,
        now_ms: int,
    ) -> Count:
        """Take the lease the script counted with this call; its answer as the call's own."""
        if (holding.term, holding.span) != (term, span) and (holding.left or holding.usage):
            self.close(holding)  # an older term's lease the tick has not closed yet
        if not (holding.left or holding.usage):
            holding.started_ms = now_ms  # (a second lease of a term counts in the same buckets)
        holding.term, holding.span, holding.ends_ms = term, span, ends_ms
        holding.keys, holding.limits = keys, limits
        holding.left += count.leased
        self.open[holding.key] = holding
        holding.count, holding.counted_ms = count, now_ms
        self.leased += count.leased
        return holding.seen(now_ms)

    def close(self, holding: Holding) -> None:
        if holding.left or holding.usage:
            assert holding.limits is not None
            account_id = holding.key[0]
            name = release_key(account_id, next(self.releases.names))
            self.releases.add(Release(
                account_id, holding.keys, holding.limits, holding.started_ms, holding.left,
                holding.usage, name,
            ))  # fmt: skip
            spent = sum(holding.usage.values())
            self.spent += spent
            LEASED_CALLS.inc(spent)
        holding.left, holding.usage, holding.count = 0, {}, None

    def tick(self, now: float) -> None:
        """Close the leases whose term is over (every lease, at `now` = inf), send what Redis
        has not applied yet, and now and then forget the accounts gone quiet."""
        now_ms = now * 1000
        for key, holding in list(self.open.items()):
            if holding.ends_ms <= now_ms:
                self.close(holding)
                del self.open[key]
        self.releases.send()
        self.ticks += 1
        if self.ticks % (IDLE_MS // TICK_MS) == 0 or now == float("inf"):
            quiet = [
                key
                for key, holding in self.holdings.items()
                if now_ms - (holding.seen_term + 1) * holding.seen_span > IDLE_MS
                and key not in self.open
            ]
            for key in quiet:
                del self.holdings[key]

    def applied(self, release: Release, reply: Any) -> None:
        if reply == 1:  # a new usage hash
            self.releases.mark_dirty([release.account_id])

    @property
    def settled(self) -> bool:
        return self.releases.settled


active: Leases | None = None  # this process's, set by the auth server (gateway/worker.py)


def current() -> Leases | None:
    """The leases decisions may spend here: on the auth server's loop, never on a thread (nor
    in a decision replayed on one after Redis failed under it)."""
    if active is None or pipelining.on_loop() is None:
        return None
    return active


def next_tick_delay(now: float) -> float:
    """Seconds until just after the current 100 ms ends."""
    return (TICK_MS - now * 1000 % TICK_MS) / 1000 + 0.002
