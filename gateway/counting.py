"""The one Redis round trip of an admitted call: gateway/limits.lua through EVALSHA.

On the asyncio auth server (gateway/server.py) a decision's commands join its process's
pipeline instead (gateway/pipelining.py), sharing round trips with the decisions ready at the
same time. Elsewhere (a thread of the server, the WSGI callable in tests) the call goes over a
connection each thread keeps for itself, packed and parsed by
redis-py's connection (hiredis) without the client layer around it: no pool checkout, no
health-check PING, no per-command instrumentation. That layer cost about 35 µs of CPU per call,
a quarter of the whole decision (bench/README figures).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, NamedTuple

import hiredis
import redis
from redis.cluster import ClusterNode
from redis.connection import ConnectionInterface

from core.redis_keys import (
    DIRTY_ACCOUNTS,
    account_of,
    account_tag,
    counter_keys,
    live_hours_key,
    usage_key,
)
from gateway import pipelining
from gateway.policy import NO_LIMIT, Limits
from portal.redis_client import get_redis

SCRIPT = (Path(__file__).parent / "limits.lua").read_text()
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()
REFUSAL_SCRIPT = (Path(__file__).parent / "refusal.lua").read_text()
REFUSAL_SCRIPT_SHA = hashlib.sha1(REFUSAL_SCRIPT.encode(), usedforsecurity=False).hexdigest()
log = logging.getLogger(__name__)
QUOTA_TTL_MARGIN_SECONDS = 7 * 86400  # the usage job and the portal read last period's count


class Window(NamedTuple):
    """A rolling window as the script left it (all zero for a window without a limit).

    Window and Count are made per call: NamedTuples are as immutable as frozen dataclasses and
    a third of their cost to make."""

    used: int  # calls admitted in the window, this one included
    reset_ms: int  # until the oldest of them leaves the window (0: none counted)
    retry_ms: int  # until one more call would fit under the limit (0: it fits now)


NO_WINDOW = Window(0, 0, 0)


class Count(NamedTuple):
    admitted: bool
    # ok, rate_limited_second, rate_limited_minute, rate_limited_endpoint_second,
    # rate_limited_endpoint_minute, quota_exceeded, credits_exhausted, credits_unknown
    outcome: str
    second: Window
    minute: Window
    period: int  # units counted in the period, this call's included when admitted
    endpoint_second: Window = NO_WINDOW
    endpoint_minute: Window = NO_WINDOW
    credits: int = -1  # units left after this call (-1: it spends no credits)
    leased: int = 0  # calls counted beyond this one for the caller to spend (gateway/leasing.py)


def check_and_count(
    keys: tuple[str, ...],
    limits: Limits,
    usage_field: str,
    quota_ttl: int,
    now: float,
    *,
    cost: int = 1,
    endpoint_windows: tuple[tuple[str, int], tuple[str, int]] | None = None,
    credits_key: str | None = None,
    want: int = 0,
) -> Count:
    """Check and count one call of `cost` units. `endpoint_windows`: the endpoint's own
    (second window key, limit) and (minute window key, limit), when it has limits. With
    `credits_key` it also spends `cost` units of the account's prepaid credits
    (credits/balance.py), or is refused if they do not cover it. `want`: calls to lease beyond
    this one, if the script finds room for them (gateway/leasing.py)."""
    second_key, minute_key, *named = keys  # only the windows with a limit (see limits.lua)
    if limits.per_second != NO_LIMIT:
        named.append(second_key)
    if limits.per_minute != NO_LIMIT:
        named.append(minute_key)
    endpoint_per_second = endpoint_per_minute = NO_LIMIT
    if endpoint_windows is not None:
        (endpoint_second_key, endpoint_per_second), (endpoint_minute_key, endpoint_per_minute) = (
            endpoint_windows
        )
        if endpoint_per_second != NO_LIMIT:
            named.append(endpoint_second_key)
        if endpoint_per_minute != NO_LIMIT:
            named.append(endpoint_minute_key)
    if credits_key:
        named.append(credits_key)
    now_ms = int(now * 1000)
    command = pack(
        "EVALSHA", SCRIPT_SHA, len(named), *named,
        limits.per_second, limits.per_minute, limits.per_period, 1 if limits.hard_cap else 0,
        usage_field, max(quota_ttl, 1), now_ms,
        now_ms // 100, now_ms // 6000,  # the buckets of the rolling second and minute
        cost, endpoint_per_second, endpoint_per_minute, 1 if credits_key else 0, want,
    )  # fmt: skip
    try:
        reply = send(keys[0], command)
    except redis.exceptions.NoScriptError:
        # A restarted or failed-over Redis forgot the script: load it (on a cluster, into every
        # primary) and try once more.
        get_redis().script_load(SCRIPT)
        reply = send(keys[0], command)
    if reply[9]:  # a new usage hash
        mark_dirty(account_of(keys[4]))
    return Count(
        bool(reply[0]),
        reply[1].decode(),
        window(reply, 2),
        window(reply, 5),
        int(reply[8]),
        window(reply, 10),
        window(reply, 13),
        int(reply[16]),
        reply[17],
    )


def window(reply: list[Any], start: int) -> Window:
    used, reset_ms, retry_ms = reply[start : start + 3]
    if not (used or reset_ms or retry_ms):
        return NO_WINDOW  # windows without a limit, and windows nobody has used yet
    return Window(used, reset_ms, retry_ms)


def count_refusal(account_id: int, environment: str, now: float, usage_field: str) -> None:
    """One round trip, like an admitted call's: the refusal's outcome into the usage hash,
    which joins the account's hours set (and the account the dirty set) as limits.lua's do."""
    keys = [usage_key(account_id, environment, now), live_hours_key(account_id)]
    command = pack("EVALSHA", REFUSAL_SCRIPT_SHA, len(keys), *keys, usage_field)
    try:
        new_hash = send(keys[0], command)
    except redis.exceptions.NoScriptError:
        get_redis().script_load(REFUSAL_SCRIPT)
        new_hash = send(keys[0], command)
    if new_hash:
        mark_dirty(account_id)


def mark_dirty(account_id: int) -> None:
    """Tell the usage flush the account has a new hash to claim (usage/flush.py).

    The call is counted by now, so a failure here must not fail the decision: the hourly sweep
    finds the hash instead.
    """
    try:
        send(DIRTY_ACCOUNTS, pack("SADD", DIRTY_ACCOUNTS, account_id))
    except redis.RedisError:
        log.warning("could not mark account %s dirty; the usage sweep will", account_id)


def pack(*parts: str | int) -> bytes:
    # hiredis's stub types the command as a 1-tuple; it takes any number of parts.
    packed: bytes = hiredis.pack_command(parts)  # type: ignore[arg-type]
    return packed


def send(key: str, command: bytes) -> Any:
    """One command on this thread's connection to the node that serves key.

    A plain Redis is that node. On a cluster it is the primary owning the key's slot (every key
    of a command shares its hash tag): a MOVED answer means the slot moved for good, so the
    slot map is reloaded and the command sent once more; ASK means the slot is moving, so the
    command goes once to the node named, after ASKING.
    """
    decision = pipelining.current()
    if decision is not None:  # on the asyncio server's loop: its pipeline carries it (never
        return decision.round_trip(command)  # a cluster's: those decide on threads)
    client = get_redis()
    if not isinstance(client, redis.RedisCluster):
        return round_trip(thread_connection(client.connection_pool), command)
    try:
        return round_trip(node_connection(client, client.get_node_from_key(key)), command)
    except redis.exceptions.MovedError:
        client.nodes_manager.initialize()
        return round_trip(node_connection(client, client.get_node_from_key(key)), command)
    except redis.exceptions.AskError as ask:
        node = client.get_node(host=ask.host, port=ask.port)
        if node is None:  # a node this process has not met yet
            client.nodes_manager.initialize()
            node = client.get_node(host=ask.host, port=ask.port)
        connection = node_connection(client, node)
        connection.send_packed_command([pack("ASKING"), command], check_health=False)
        connection.read_response()
        return connection.read_response()


def node_connection(client: redis.RedisCluster, node: ClusterNode) -> ConnectionInterface:
    return thread_connection(client.get_redis_connection(node).connection_pool)


def round_trip(connection: ConnectionInterface, command: bytes) -> Any:
    connection.send_packed_command([command], check_health=False)
    return connection.read_response()


_this_thread = threading.local()


def thread_connection(pool: redis.ConnectionPool) -> ConnectionInterface:
    """This thread's own connection to a Redis node, connected and fit to carry the next command.

    Made by the node's shared pool (same URL, timeouts, TLS and credentials) but never returned
    to it. Instead of a periodic PING, a zero-timeout poll finds a connection the server has
    closed (restart, failover, idle timeout) before the command is sent on it, so a call is
    never lost to a stale socket and never sent twice.
    """
    owned: dict[redis.ConnectionPool, ConnectionInterface] | None = getattr(
        _this_thread, "owned", None
    )
    if owned is None:
        owned = _this_thread.owned = {}
    connection = owned.get(pool)
    if connection is None:
        connection = owned[pool] = pool.make_connection()
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


__all__ = [
    "NO_LIMIT", "Count", "Window", "account_tag", "check_and_count", "count_refusal",
    "counter_keys", "preload",
]  # fmt: skip
