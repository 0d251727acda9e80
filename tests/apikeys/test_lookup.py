from __future__ import annotations

import ipaddress
import time

import pytest

from accounts.models import Account
from apikeys import keys, records
from apikeys.records import KeyRecord
from core.lru import RefreshingLRU
from tests.helpers import wait_for

pytestmark = pytest.mark.django_db


def test_it_returns_an_immutable_record_of_a_real_key(issue_key, team):
    key, raw = issue_key(
        restrictions={
            "allowed_products": [],
            "allowed_methods": ["GET"],
            "allowed_path_prefixes": ["/v1/"],
            "allowed_ips": ["203.0.113.0/24"],
        }
    )
    record = records.lookup(raw)
    assert isinstance(record, KeyRecord)
    assert record.key_id == key.public_id
    assert record.account_id == team.id
    assert record.environment == "live"
    assert record.status == "active"
    assert record.allowed_methods == ("GET",)
    assert record.allowed_path_prefixes == ("/v1/",)
    assert record.allowed_networks == (ipaddress.ip_network("203.0.113.0/24"),)
    assert record.is_usable_at(time.time())
    with pytest.raises(AttributeError):
        record.status = "revoked"


def test_it_serves_a_known_key_from_the_cache(issue_key, django_assert_num_queries):
    _, raw = issue_key()
    records.lookup(raw)
    with django_assert_num_queries(0):
        assert records.lookup(raw) is not None


def test_it_caches_unknown_keys_too(django_assert_num_queries):
    raw = keys.generate("live")
    with django_assert_num_queries(1):
        assert records.lookup(raw) is None
    with django_assert_num_queries(0):
        assert records.lookup(raw) is None


def test_it_sees_a_revocation_in_this_process_at_once(
    issue_key, django_capture_on_commit_callbacks
):
    key, raw = issue_key()
    assert records.lookup(raw).status == "active"
    with django_capture_on_commit_callbacks(execute=True):
        key.revoke()
    assert records.lookup(raw).status == "revoked"


def test_it_drops_an_entry_when_redis_announces_it(issue_key, listener_on, redis_db):
    from apikeys.invalidation import CHANNEL

    key, raw = issue_key()
    listener_on()
    records.lookup(raw)
    assert records.cache.get(key.key_hash)[0]
    redis_db.publish(CHANNEL, key.key_hash)
    wait_for(lambda: not records.cache.get(key.key_hash)[0], timeout=1, what="invalidation")


def test_it_does_not_store_what_it_read_before_an_invalidation(issue_key):
    key, _raw = issue_key()
    generation = records.cache.generation
    stale = records.read([key.key_hash])[key.key_hash]
    records.cache.forget(key.key_hash)  # an invalidation arrives while the lookup ran
    records.cache.put(key.key_hash, stale, records.expiry(stale, True), generation=generation)
    assert records.cache.get(key.key_hash) == (False, None)


def test_it_trusts_entries_only_briefly_when_the_listener_loses_redis(
    issue_key, private_redis, listener_on
):
    from apikeys.models import ApiKey

    key, raw = issue_key()
    listener_on(private_redis.url)
    assert records.lookup(raw).status == "active"
    assert records.lookup(keys.generate("live")) is None  # an unknown key, cached too
    private_redis.stop()
    wait_for(lambda: not records.listener.connected, timeout=5, what="the listener to notice")
    assert len(records.cache) == len(records.unknown) == 0  # what they held was dropped

    assert records.lookup(raw).status == "active"  # cached now for the short fallback TTL only
    # A revocation it cannot hear about (Redis is down) is still seen within the fallback TTL.
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=key.created_at)
    time.sleep(records.FALLBACK_TTL_SECONDS + 0.05)
    assert records.lookup(raw).status == "revoked"


def test_it_restarts_the_listener_in_a_forked_process(listener_on, redis_db):
    import os

    listener_on()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread does not exist here
        try:
            assert not records.listener.connected and not records.listener.running
            records.listener.ensure_running()  # what lookup() does for a well-formed key
            ok = records.listener.wait_until_connected(5) and records.listener.connected
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"


@pytest.mark.django_db(transaction=True)  # the refresher's thread reads committed rows
def test_a_busy_key_is_reloaded_in_the_background_before_it_expires(
    issue_key, listener_on, django_assert_num_queries
):
    from apikeys.models import ApiKey

    key, raw = issue_key()
    listener_on()
    record = records.lookup(raw)
    # As if loaded most of a TTL ago: due for a reload at its next use.
    records.cache.put(key.key_hash, record, records.expiry(record, True),
                      refresh_at=time.monotonic() - 1)  # fmt: skip
    ApiKey.objects.filter(pk=key.pk).update(allowed_methods=["GET"])  # no invalidation sent
    with django_assert_num_queries(0):  # the call goes on with what it has, at once
        assert records.lookup(raw).allowed_methods == ()
    wait_for(lambda: records.lookup(raw).allowed_methods == ("GET",), what="the reload")
    assert records.cache.get(key.key_hash)[0]  # and its entry lives on


def test_an_unknown_key_or_one_cached_while_deaf_is_never_reloaded_in_the_background():
    assert not isinstance(records.unknown, RefreshingLRU)  # no refresh points, no refresher
    record = KeyRecord("key_x", 1, "live", "active", None, None, (), (), (), ())
    assert records.refresh_time(record, trusted=False) is None
    due = records.refresh_time(record, trusted=True) - time.monotonic()
    ttl = records.CACHE_TTL_SECONDS
    assert 0.6 * ttl - 1 <= due <= 0.8 * ttl  # drawn between 60% and 80% of its life


def test_keys_first_loaded_together_come_due_over_most_of_a_cycle(issue_key, listener_on, alice):
    """A start or a deploy loads every key at once: their first reloads are spread from a fifth
    of the TTL to four fifths (core.refresh.sooner), not all in the last fifth."""
    listener_on()
    ttl = records.CACHE_TTL_SECONDS
    points = []
    for n in range(20):
        key, raw = issue_key(Account.objects.create_with_owner(f"spread {n}", alice))
        records.lookup(raw)
        points.append(records.cache.refresh_point(key.key_hash) - time.monotonic())
    assert all(0.2 * ttl - 1 <= point <= 0.8 * ttl for point in points)
    assert min(points) < 0.6 * ttl  # P(none of 20 below) < 1e-9


def test_a_batch_reload_makes_the_record_a_first_load_makes(issue_key):
    """reload_many reads only the record's columns: every one of them must come through."""
    from datetime import timedelta

    from django.utils import timezone

    from apikeys.models import ApiKey

    key, _ = issue_key(
        restrictions={
            "allowed_products": ["demo"],
            "allowed_methods": ["get", "POST"],
            "allowed_path_prefixes": ["/v1/"],
            "allowed_ips": ["203.0.113.0/24", "2001:db8::1"],
        }
    )
    soon = timezone.now() + timedelta(days=3)
    ApiKey.objects.filter(pk=key.pk).update(
        expires_at=soon, grace_ends_at=soon + timedelta(hours=1), revoked_at=timezone.now()
    )
    ((key_hash, (reloaded, _, _)),) = records.reload_many([key.key_hash, "0" * 64])
    assert key_hash == key.key_hash
    assert reloaded == records.read([key.key_hash])[key.key_hash]
    assert reloaded.status == "revoked" and reloaded.expires_at == soon.timestamp()
    assert reloaded.allowed_methods == ("GET", "POST")
