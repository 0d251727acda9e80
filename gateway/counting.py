"""The one Redis round trip of an admitted call: gateway/limits.lua through EVALSHA.

The call goes over a connection each server thread keeps for itself, packed and parsed by
redis-py's connection (hiredis) without the client layer around it: no pool checkout, no
health-check PING, no per-command instrumentation. That layer cost about 35 µs of CPU per call,
a quarter of the whole decision (bench/README figures).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hiredis
import redis
from redis.connection import ConnectionInterface

from gateway.policy import NO_LIMIT, Limits
from portal.redis_client import get_redis

SCRIPT = (Path(__file__).parent / "limits.lua").read_text()
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()
REFUSAL_SCRIPT = (Path(__file__).parent / "refusal.lua").read_text()
REFUSAL_SCRIPT_SHA = hashlib.sha1(REFUSAL_SCRIPT.encode(), usedforsecurity=False).hexdigest()
QUOTA_TTL_MARGIN_SECONDS = 7 * 86400  # the usage job and the portal read last period's count


@dataclass(frozen=True, slots=True)
class Count:
    admitted: bool
    outcome: str  # ok, rate_limited_second, rate_limited_minute, quota_exceeded
    second: int
    minute: int
    period: int


def account_tag(account_id: int) -> str:
    return f"tg:{{acct:{account_id}}}"


def usage_key(account_id: int, environment: str, now: float) -> str:
    hour = time.strftime("%Y%m%d%H", time.gmtime(now))
    kind = "use" if environment == "live" else "test-use"
    return f"{account_tag(account_id)}:{kind}:{hour}"


def counter_keys(account_id: int, environment: str, now: float, period_start: float) -> list[str]:
    tag = account_tag(account_id)
    return [
        f"{tag}:rl:{environment}:s:{int(now)}",
        f"{tag}:rl:{environment}:m:{int(now) // 60}",
        # The period's start is in the name: a call counts in the period it was decided in,
        # and a plan change (same period) keeps the count.
        f"{tag}:quota:{environment}:{int(period_start)}",
        usage_key(account_id, environment, now),
    ]


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
    admitted, outcome, second, minute, period = reply
    return Count(bool(admitted), outcome.decode(), int(second), int(minute), int(period))


def count_refusal(account_id: int, environment: str, now: float, usage_field: str) -> None:
    """One round trip, like an admitted call's: the refusal's outcome into the usage hash."""
    key = usage_key(account_id, environment, now)
    command = hiredis.pack_command(("EVALSHA", REFUSAL_SCRIPT_SHA, 1, key, usage_field))  # type: ignore[arg-type]
    connection = thread_connection()
    try:
        round_trip(connection, command)
    except redis.exceptions.NoScriptError:
        get_redis().script_load(REFUSAL_SCRIPT)
        round_trip(connection, command)


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
    get_redis().script_load(REFUSAL_SCRIPT)


__all__ = ["NO_LIMIT", "Count", "check_and_count", "count_refusal", "counter_keys", "preload"]
