"""Forged keys: the checksum is a public CRC32, so anyone can make well-formed keys that no
database row knows. Their negative entries must never push a known key's record out of the
cache (a paying customer's next call would then read the database again), and an invalidation
must reach them as it reaches known keys."""

from __future__ import annotations

import pytest

from apikeys import invalidation, keys, records
from apikeys.models import ApiKey
from core.lru import ExpiringLRU, RefreshingLRU

pytestmark = pytest.mark.django_db


def forged() -> str:
    """A well-formed live key no row has: what anyone can make from the published format."""
    return keys.generate("live")


@pytest.fixture
def small_caches(monkeypatch, listener_on):
    """The key cache at 50 records and the unknown keys' at 8 (defaults: 100,000 and 10,000),
    so a flood larger than both takes a few hundred lookups, not a hundred thousand."""
    monkeypatch.setattr(records, "cache", RefreshingLRU(50, records.cache.on_due))
    # raising=False: before unknown keys had a map of their own, this set an unused name.
    monkeypatch.setattr(records, "unknown", ExpiringLRU(8), raising=False)
    listener_on()  # connected: entries are trusted for their whole TTL, not half a second


def test_a_flood_of_forged_keys_leaves_a_known_keys_record_cached(
    small_caches, issue_key, django_assert_num_queries
):
    _, raw = issue_key()
    assert records.lookup(raw) is not None
    flood = [forged() for _ in range(200)]  # four times the key cache, 25 times the other
    with django_assert_num_queries(len(flood)):  # off the loop, each is read in place
        assert all(records.lookup(fake) is None for fake in flood)
    with django_assert_num_queries(0):
        assert records.lookup(raw) is not None  # still cached: no database query
    assert len(records.cache) == 1  # the flood never entered the known keys' map
    assert len(records.unknown) == 8  # and churned only its own, at its bound


def test_an_unknown_key_repeated_is_answered_from_memory(small_caches, django_assert_num_queries):
    fake = forged()
    with django_assert_num_queries(1):
        assert records.lookup(fake) is None
    with django_assert_num_queries(0):
        assert records.lookup(fake) is None


def test_a_key_created_after_it_was_cached_as_unknown_works_once_its_hash_is_announced(
    team, alice, listener_on, django_assert_num_queries
):
    """The invalidation every key change publishes (apikeys.invalidation) reaches the unknown
    keys' map too. Keys are made with 190 random bits, so a new key cached as unknown before
    it existed takes a guess that good; a row written with a chosen key (here) stands for it."""
    listener_on()
    raw = forged()
    assert records.lookup(raw) is None  # cached as unknown
    key = ApiKey.objects.create(
        account=team, name="made later", environment="live", prefix=keys.display_prefix(raw),
        last4=raw[-4:], key_hash=keys.hash_key(raw), created_by=alice,
    )  # fmt: skip
    with django_assert_num_queries(0):
        assert records.lookup(raw) is None  # nothing announced yet: the negative entry holds
    invalidation.publish([key.key_hash])  # applied in this process at once, then in every other
    record = records.lookup(raw)
    assert record is not None and record.key_id == key.public_id
