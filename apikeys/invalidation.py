"""Cross-process invalidation of the key record cache through Redis pub/sub.

A revoke, rotate or edit publishes the key's hash on CHANNEL once its transaction commits. Every
process that serves ``records.lookup`` listens (core.listener) and drops the entry it hears
about, so a revoked key stops working everywhere within a second. While the listener cannot hear
Redis it says so, and the cache only keeps entries for a short fallback TTL instead of trusting
what it holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from core.listener import Channel

CHANNEL = "tg:apikeys:invalidate"
key_hashes_channel = Channel(CHANNEL)


def publish_on_commit(key_hashes: Iterable[str]) -> None:
    hashes = list(key_hashes)
    if hashes:
        transaction.on_commit(lambda: publish(hashes))


def publish(key_hashes: list[str]) -> None:
    key_hashes_channel.publish(key_hashes)
