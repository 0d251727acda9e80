"""Counting into Redis as gateway/limits.lua does, for tests that write usage without a call."""

from __future__ import annotations

from core.redis_keys import DIRTY_ACCOUNTS, account_of, live_hours_key


def count_usage(client, usage_key: str, field: str, n: int = 1) -> None:
    """Add n calls to a usage hash, register it with its account and mark the account dirty."""
    client.hincrby(usage_key, field, n)
    account_id = account_of(usage_key)
    if client.sadd(live_hours_key(account_id), usage_key):
        client.sadd(DIRTY_ACCOUNTS, account_id)
