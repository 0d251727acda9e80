from __future__ import annotations

import hashlib
import hmac
import string
import time

import pytest
from django.conf import settings as django_settings
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apikeys import keys, records
from tests.helpers import wait_for

SECRETS = st.text(alphabet=keys.BASE62, min_size=32, max_size=32)
TYPO_ALPHABET = keys.BASE62 + "_-. " + string.punctuation


def make_key(secret: str, environment: str = "live") -> str:
    body = f"tg_{environment}_{secret}"
    return f"{body}_{keys.checksum(body)}"


def single_character_typos(raw: str):
    for i in range(len(raw)):
        for char in TYPO_ALPHABET:
            if char != raw[i]:
                yield raw[:i] + char + raw[i + 1 :]  # substitution
        yield raw[:i] + raw[i + 1 :]  # deletion
        if i + 1 < len(raw) and raw[i] != raw[i + 1]:
            yield raw[:i] + raw[i + 1] + raw[i] + raw[i + 2 :]  # swap with the next
    for i in range(len(raw) + 1):
        for char in keys.BASE62:
            yield raw[:i] + char + raw[i:]  # insertion


def test_it_generates_keys_in_the_published_format():
    raw = keys.generate("live")
    assert keys.key_pattern("tg").fullmatch(raw)
    assert keys.is_well_formed(raw)
    assert raw.startswith("tg_live_") and len(raw) == len("tg_live_") + 32 + 1 + 6


def test_it_carries_at_least_190_bits_of_randomness():
    import math

    assert keys.SECRET_LENGTH * math.log2(len(keys.BASE62)) >= 190


@given(st.text(max_size=120))
def test_it_rejects_any_random_string(text):
    assert not keys.is_well_formed(text)


@given(st.from_regex(keys.key_pattern("tg"), fullmatch=True))
def test_it_rejects_random_strings_of_the_right_shape(text):
    # The checksum matches by chance once in 62**6 (about 5.7e10) tries.
    assert not keys.is_well_formed(text)


@settings(max_examples=40, deadline=None)
@given(SECRETS, st.sampled_from(keys.ENVIRONMENTS))
def test_it_rejects_every_single_character_typo_of_a_real_key(secret, environment):
    raw = make_key(secret, environment)
    assert keys.is_well_formed(raw)
    for typo in single_character_typos(raw):
        assert not keys.is_well_formed(typo), typo


MALFORMED = st.one_of(
    st.text(max_size=120),
    st.from_regex(keys.key_pattern("tg"), fullmatch=True),
    SECRETS.map(make_key).flatmap(
        lambda raw: st.integers(0, len(raw) - 1).map(
            lambda i: raw[:i] + ("0" if raw[i] != "0" else "1") + raw[i + 1 :]
        )
    ),
)


@pytest.mark.django_db
@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=MALFORMED)
def test_it_rejects_malformed_keys_with_zero_database_queries(raw, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert records.lookup(raw) is None


def _commands_processed(client) -> int:
    return int(client.info("stats")["total_commands_processed"])


def _connections_received(client) -> int:
    return int(client.info("stats")["total_connections_received"])


@pytest.mark.django_db
def test_it_rejects_malformed_keys_with_zero_redis_calls(private_redis, settings):
    records.listener.stop()
    settings.REDIS_URL = private_redis.url
    probe = private_redis.client()
    # Baseline: what two INFO calls in a row cost with nothing else talking to this Redis.
    first = _commands_processed(probe)
    baseline = _commands_processed(probe) - first

    connections = _connections_received(probe)
    before = _commands_processed(probe)
    for raw in ["", "tg_live_", "x" * 500, make_key("a" * 32)[:-1] + "!", "tg_pat_" + "a" * 39]:
        assert records.lookup(raw) is None
    assert _commands_processed(probe) - before == baseline
    assert not records.listener.connected
    assert _connections_received(probe) == connections  # nothing else even connected


@pytest.mark.django_db
def test_a_well_formed_key_does_start_the_listener(private_redis, settings):
    records.listener.stop()
    settings.REDIS_URL = private_redis.url
    try:
        assert records.lookup(keys.generate("live")) is None
        wait_for(lambda: records.listener.connected, what="the listener")
    finally:
        records.listener.stop()


@pytest.mark.django_db
def test_a_cache_inherited_before_the_listener_runs_is_never_served(private_redis, settings):
    """The cache is asked before the key's checksum, but only once this process's listener
    runs: until then it may hold a parent process's entries, which starting it drops."""
    records.listener.stop()
    settings.REDIS_URL = private_redis.url
    raw = keys.generate("live")  # well-formed, in no database
    stale = records.KeyRecord(key_id="key_stale", account_id=1, environment="live",
                              status="active", expires_at=None, grace_ends_at=None,
                              allowed_products=(), allowed_path_prefixes=(), allowed_methods=(),
                              allowed_networks=())  # fmt: skip
    records.cache.put(keys.hash_key(raw), stale, expires_at=time.monotonic() + 300)
    try:
        assert records.lookup(raw) is None
        assert records.lookup(raw) is None  # now from the cache: the database's answer
    finally:
        records.listener.stop()


def test_an_overlong_key_is_refused_before_it_is_hashed(monkeypatch):
    def hash_key(raw: str) -> str:
        raise AssertionError("hashed")

    monkeypatch.setattr(keys, "hash_key", hash_key)
    assert records.lookup(keys.generate("live") + "a" * 65536) is None
    assert records.lookup("x" * (keys.MAX_LENGTH + 1)) is None


def test_the_hash_follows_a_changed_pepper():
    """hash_key keeps the HMAC keyed with the pepper (the gateway's hot path): a changed
    APIKEY_PEPPER must be taken at once, and the old one again once the change is undone."""
    raw = make_key("a" * 32)

    def expected(pepper: str) -> str:
        return hmac.new(pepper.encode(), raw.encode(), hashlib.sha256).hexdigest()

    original = django_settings.APIKEY_PEPPER
    assert keys.hash_key(raw) == expected(original)
    with override_settings(APIKEY_PEPPER="another pepper"):
        assert keys.hash_key(raw) == expected("another pepper")
    assert keys.hash_key(raw) == expected(original)
