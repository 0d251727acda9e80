"""The one Redis round trip of an admitted call: gateway/limits.lua through EVALSHA.

The call goes over a connection each server thread keeps for itself, packed and parsed by
redis-py's connection (hiredis) without the client layer around it: no pool checkout, no
health-check PING, no per-command instrumentation. That layer cost about 35 µs of CPU per call,
a quarter of the whole decision (bench/README figures).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hiredis
import redis
from redis.connection import ConnectionInterface

from core.redis_keys import DIRTY_ACCOUNTS, account_of, account_tag, counter_keys
from gateway.policy import NO_LIMIT, Limits
from portal.redis_client import get_redis

SCRIPT = (Path(__file__).parent / "limits.lua").read_text()
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()
log = logging.getLogger(__name__)
QUOTA_TTL_MARGIN_SECONDS = 7 * 86400  # the usage job and the portal read last period's count


@dataclass(frozen=True, slots=True)
class Count:
    admitted: bool
    outcome: str  # ok, rate_limited_second, rate_limited_minute, quota_exceeded
    second: int
    minute: int
    period: int


def check_and_count(keys: list[str], limits: Limits, usage_field: str, quota_ttl: int) -> Count:
    args = [
        limits.per_second,
        limits.per_minute,
        limits.per_period,
        1 if limits.hard_cap else 0,
        usage_field,
        max(quota_ttl, 1),
    ]
    # hiredis's stub types the command as a 1-tuple; it takes any number of parts.
    command = hiredis.pack_command(("EVALSHA", SCRIPT_SHA, len(keys), *keys, *args))  # type: ignore[arg-type]
    connection = thread_connection()
    try:
        reply = round_trip(connection, command)
    except redis.exceptions.NoScriptError:
        # A restarted or failed-over Redis forgot the script: load it and try once more.
        get_redis().script_load(SCRIPT)
        reply = round_trip(connection, command)
    admitted, outcome, second, minute, period, new_hash = reply
    if new_hash:
        mark_dirty(connection, account_of(keys[4]))
    return Count(bool(admitted), outcome.decode(), int(second), int(minute), int(period))


def mark_dirty(connection: ConnectionInterface, account_id: int) -> None:
    """Tell the usage flush the account has a new hash to claim (usage/flush.py).

    The call is counted by now, so a failure here must not fail the decision: the hourly sweep
    finds the hash instead.
    """
    try:
        round_trip(connection, hiredis.pack_command(("SADD", DIRTY_ACCOUNTS, account_id)))  # type: ignore[arg-type]
    except redis.RedisError:
        connection.disconnect()
        log.warning("could not mark account %s dirty; the usage sweep will", account_id)


def round_trip(connection: ConnectionInterface, command: bytes) -> list[Any]:
    connection.send_packed_command([command], check_health=False)
    reply: list[Any] = connection.read_response()
    return reply


_this_thread = threading.local()


def thread_connection() -> ConnectionInterface:
    """This thread's own connection to Redis, connected and fit to carry the next command.

    Made by the shared pool (same URL, timeouts, TLS and credentials) but never returned to it.
    Instead of a periodic PING, a zero-timeout poll finds a connection the server has closed
    (restart, failover, idle timeout) before the command is sent on it, so a call is never lost
    to a stale socket and never sent twice.
    """
    pool = get_redis().connection_pool
    owned = getattr(_this_thread, "owned", None)
    if owned is None or owned[0] is not pool:
        owned = _this_thread.owned = (pool, pool.make_connection())
    connection = owned[1]
    connection.connect()  # no-op when connected; ConnectionError when Redis is down
    try:
        stale = connection.can_read(timeout=0)  # a stray reply would be taken for ours
    except redis.ConnectionError:
        stale = True  # the server closed it
    if stale:
        connection.disconnect()
        connection.connect()
    return connection


def forget_thread_connections() -> None:
    """In a forked child: the parent's sockets are not ours to use."""
    global _this_thread
    _this_thread = threading.local()


os.register_at_fork(after_in_child=forget_thread_connections)


def preload() -> None:
    get_redis().script_load(SCRIPT)


__all__ = ["NO_LIMIT", "Count", "account_tag", "check_and_count", "counter_keys", "preload"]
