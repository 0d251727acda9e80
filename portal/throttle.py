"""Fixed-window counters in Redis for actions people trigger that cost someone else (emails).

One Lua call per counter increments it and, on the first hit of a window, sets its expiry: the
two happen together, so concurrent requests each see their own count (never two at the same
number) and no counter is ever left without an expiry.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.redis_client import get_redis

_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
# Given back only while the window lives: a DECR after expiry would leave a counter at -1
# with no expiry.
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""
KEY_PREFIX = "tg:throttle:"


@dataclass(frozen=True)
class Limit:
    name: str  # e.g. "invite:account:42"
    allowed: int  # per window
    window_seconds: int


def _run(script: str, limit: Limit) -> int:
    return int(
        get_redis().register_script(script)(keys=[_counter(limit)], args=[limit.window_seconds])
    )


def _counter(limit: Limit) -> str:
    return KEY_PREFIX + limit.name


def take(*limits: Limit) -> Limit | None:
    """Count one action against every limit; None if all allow it, else the first one that
    refuses. A refused action is given back to every counter it took, so it costs nothing.
    One counter per call (not one script over all), so the keys may live on different Redis
    Cluster slots."""
    taken: list[Limit] = []
    refused = None
    for limit in limits:
        count = _run(_HIT, limit)
        taken.append(limit)
        if count > limit.allowed:
            refused = limit
            break
    if refused is not None:
        for limit in taken:
            _run(_GIVE_BACK, limit)
    return refused


def seconds_left(limit: Limit) -> int:
    """Until the limit's window ends and it allows again (at least 1: a Retry-After)."""
    return max(1, int(get_redis().ttl(_counter(limit))))
