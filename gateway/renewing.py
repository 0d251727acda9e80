"""Entitlement tokens renewed beside the auth server's loop, by a signing process of its own.

A gateway with many busy keys renews many tokens: 100,000 keys each renewed every 120-141 s
(gateway.entitlements.renew_at) are ~740 signatures a second, and a signature is 40-60 µs of
Ed25519 on a slow VM, 60-100 µs with PyJWT's own work: a tenth of the auth loop's time in bench
(h) on such a VM, spent while every call in flight waited. A thread would not do: the signature
itself runs outside the GIL, but each one hands the GIL back and forth with the loop, and those
turns cost the loop more than the signature gave back (docs/benchmarks.md, "The loop's turn
back": tried with a thread per renewal, reverted).

So each auth process forks a signing process as it starts (before any thread of its own
exists), and talks to it over a pipe the loop watches:

- A call that finds its token past the renewal point, but still short of its grace bound (the
  point plus GRACE_SHARE of the lifetime, at most half the lifetime after the token was issued),
  goes on with that token and queues the renewal here (once: a queued renewal is not queued
  again).
- Every tick (100 ms) the loop sends the queued renewals, up to BATCH of them, as one message:
  the claims of each, but its times, which the signer sets. One batch is in flight at a time.
- The signer signs them with the signing key it reads itself (gateway.signing), and answers
  with the tokens in one message; when its key is not the one a renewal was queued under (a
  rotation in between), it answers None for it.
- The loop stores each token and its next renewal point in the key's record, as a call that
  signed it would have.

A call past its grace bound signs for itself, queued or not, exactly as without a signer: the
upstream never gets a token with less than half its lifetime left. If the signer dies (killed,
out of memory), the auth process logs it once and signs on the loop from then on; it is not
forked again (by then the process has threads, and forking a process with threads is unsafe).
The signer exits when the auth process does: it reads end of file on the pipe.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import time
from multiprocessing.connection import Connection
from typing import Any

from apikeys.records import KeyRecord
from gateway import entitlements, pipelining
from gateway.signing import keys

log = logging.getLogger(__name__)

BATCH = 128  # renewals a message: ~100 ms of a busy gateway's, a few tens of KB
# A token renewed beside the loop is served past its renewal point until this share of its
# lifetime more has passed: renewal points are drawn up to half the lifetime less this share
# (gateway.entitlements.renew_at), so that bound is never past half the lifetime.
GRACE_SHARE = 0.03


def sign(claims: dict[str, Any], issued: int, lifetime: int, kid: str) -> str | None:
    """A token of these claims issued at ``issued``, signed with the key ``kid``; None when this
    process's signing key is another one (rotated since the renewal was queued)."""
    ring = keys.ring()
    return entitlements.signed(claims, issued, lifetime, ring) if ring.kid == kid else None


def serve(connection: Connection, parent_end: Connection) -> None:
    """The signing process: sign each batch received, answer it, until the pipe closes."""
    parent_end.close()  # so that the auth process's end closing is an end of file here
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal: the auth process stops us
    while True:
        try:
            batch = connection.recv()
        except (EOFError, OSError):
            return
        issued = int(time.time())
        answers: list[tuple[str, int] | None] = []
        for claims, lifetime, kid in batch:
            try:
                token = sign(claims, issued, lifetime, kid)
            except Exception:  # an unreadable key: the calls sign for themselves, and fail
                log.exception("token signer: could not sign a renewal")
                token = None
            answers.append(None if token is None else (token, issued))
        connection.send(answers)


# A queued renewal: the record whose maps take the token, the token's name, its claims (but its
# times), its lifetime, the signing key's id.
Renewal = tuple[KeyRecord, str, dict[str, Any], int, str]


class Renewer:
    """The auth process's side: renewals queued by calls, sent in batches on the loop's tick,
    stored as the signer answers."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # Queued, not sent yet, by (the record's renewals map, the token's name).
        self.waiting: dict[tuple[int, str], Renewal] = {}
        self.sent: list[Renewal] = []  # the batch in flight
        self.queued: set[tuple[int, str]] = set()  # waiting or sent
        self.renewed = 0  # for the bench and tests
        ours, theirs = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("fork").Process(
            target=serve, args=(theirs, ours), name="tollgate token signer", daemon=True
        )
        self.process.start()
        theirs.close()
        self.connection: Connection | None = ours
        loop.add_reader(ours.fileno(), self.received)

    @property
    def alive(self) -> bool:
        return self.connection is not None

    def renew(self, record: KeyRecord, name: str, claims: dict[str, Any], lifetime: int,
              kid: str) -> None:  # fmt: skip
        key = (id(record.renewals), name)
        if key not in self.queued:
            self.queued.add(key)
            self.waiting[key] = (record, name, claims, lifetime, kid)

    def send(self) -> None:
        """On the loop's tick: the next batch, unless one is in flight."""
        if self.sent or not self.waiting or self.connection is None:
            return
        keys = list(self.waiting)[:BATCH]
        self.sent = [self.waiting.pop(key) for key in keys]
        try:
            self.connection.send([(claims, life, kid) for _, _, claims, life, kid in self.sent])
        except OSError:
            self.lost("could not send it renewals")

    def received(self) -> None:
        connection = self.connection
        assert connection is not None
        try:
            answers = connection.recv()
        except (EOFError, OSError):
            self.lost("it is gone")
            return
        for (record, name, *_), answer in zip(self.sent, answers, strict=True):
            self.queued.discard((id(record.renewals), name))
            if answer is not None:
                token, issued = answer
                entitlements.store(record, name, token, issued)
                self.renewed += 1
        self.sent = []
        self.send()

    def lost(self, why: str) -> None:
        """The signer is gone: calls sign on the loop from now on."""
        log.error("gateway: the token signer stopped (%s); tokens are signed on the loop", why)
        self.close()

    def close(self) -> None:
        if self.connection is not None:
            self.loop.remove_reader(self.connection.fileno())
            self.connection.close()
            self.connection = None
        self.waiting.clear()
        self.sent = []
        self.queued.clear()
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(1.0)


active: Renewer | None = None  # this process's, set by the auth server (gateway/worker.py)


def current() -> Renewer | None:
    """The renewer decisions may queue renewals with: on the auth server's loop, never on a
    thread (its maps are the loop's alone)."""
    renewer = active
    if renewer is None or not renewer.alive or pipelining.on_loop() is None:
        return None
    return renewer
