"""The one Redis round trip of an admitted call: gateway/limits.lua through EVALSHA."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from gateway.policy import NO_LIMIT, Limits
from portal.redis_client import get_redis

SCRIPT = (Path(__file__).parent / "limits.lua").read_text()
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()
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


def counter_keys(account_id: int, environment: str, now: float, period_start: float) -> list[str]:
    tag = account_tag(account_id)
    hour = time.strftime("%Y%m%d%H", time.gmtime(now))
    usage = f"{tag}:use:{hour}" if environment == "live" else f"{tag}:test-use:{hour}"
    return [
        f"{tag}:rl:{environment}:s:{int(now)}",
        f"{tag}:rl:{environment}:m:{int(now) // 60}",
        # The period's start is in the name: a call counts in the period it was decided in,
        # and a plan change (same period) keeps the count.
        f"{tag}:quota:{environment}:{int(period_start)}",
        usage,
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
    client = get_redis()
    try:
        reply = client.evalsha(SCRIPT_SHA, len(keys), *keys, *args)
    except redis.exceptions.NoScriptError:
        # A restarted or failed-over Redis forgot the script: load it and try once more.
        client.script_load(SCRIPT)
        reply = client.evalsha(SCRIPT_SHA, len(keys), *keys, *args)
    admitted, outcome, second, minute, period = reply
    return Count(bool(admitted), outcome.decode(), int(second), int(minute), int(period))


def preload() -> None:
    get_redis().script_load(SCRIPT)


__all__ = ["NO_LIMIT", "Count", "check_and_count", "counter_keys", "preload"]
