from __future__ import annotations

import ipaddress
import time

import pytest

from apikeys import keys, records
from apikeys.records import KeyRecord
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
    stale = records.load(key.key_hash)
    records.cache.forget(key.key_hash)  # an invalidation arrives while the lookup ran
    records.cache.put(key.key_hash, stale, generation=generation)
    assert records.cache.get(key.key_hash) == (False, None)


def test_it_trusts_entries_only_briefly_when_the_listener_loses_redis(
    issue_key, private_redis, listener_on
):
    from apikeys.models import ApiKey

    key, raw = issue_key()
    listener_on(private_redis.url)
    assert records.lookup(raw).status == "active"
    private_redis.stop()
    wait_for(lambda: not records.listener.connected, timeout=5, what="the listener to notice")
    assert len(records.cache) == 0  # what it held was dropped, not trusted

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
            assert not records.listener.connected
            records.listener.ensure_running()  # what lookup() does first (no DB in a fork)
            ok = records.listener.wait_until_connected(5) and records.listener.connected
            os.write(write, b"1" if ok else b"0")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.waitpid(pid, 0)
    assert answer == b"1"


def record_of(n: int) -> KeyRecord:
    return KeyRecord(f"key_{n}", n, "live", "active", None, None, (), (), (), ())


def test_the_cache_drops_the_least_recently_used_record_when_full():
    cache = records.RecordCache(max_entries=3)
    for n in (1, 2, 3):
        cache.put(f"h{n}", record_of(n))
    assert cache.get("h1") == (True, record_of(1))  # 1 is now the most recently used
    cache.put("h4", record_of(4))  # full: 2 goes
    assert [cache.get(f"h{n}")[0] for n in (1, 2, 3, 4)] == [True, False, True, True]
    cache.put("h3", record_of(3))  # a refresh is a use too
    cache.put("h5", record_of(5))  # 1 goes (used before 3's refresh and 4)
    assert [cache.get(f"h{n}")[0] for n in (1, 3, 4, 5)] == [False, True, True, True]
    assert len(cache) == 3


def test_the_bounded_cache_keeps_its_invalidation_guard():
    cache = records.RecordCache(max_entries=2)
    cache.put("h1", record_of(1))
    generation = cache.generation  # a lookup reads the database...
    cache.forget("h1")  # ...a revocation arrives...
    cache.put("h1", record_of(1), generation=generation)  # ...and its stale read is not stored
    assert cache.get("h1") == (False, None)
    cache.put("h2", record_of(2))
    generation = cache.generation
    cache.put("h3", record_of(3))  # evictions are not invalidations: a later read may be stored
    cache.put("h2", record_of(2), generation=generation)
    assert cache.get("h2") == (True, record_of(2))
