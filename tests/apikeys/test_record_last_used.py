from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_it_updates_many_keys_in_one_query(issue_key, django_assert_num_queries):
    first, _ = issue_key()
    second, _ = issue_key(environment="test")
    with django_assert_num_queries(1):
        updated = ApiKey.objects.record_last_used(
            {first.public_id: (T0, "203.0.113.9"), second.public_id: (T0, "2001:db8::1")}
        )
    assert updated == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.last_used_at, first.last_used_ip) == (T0, "203.0.113.9")
    assert (second.last_used_at, second.last_used_ip) == (T0, "2001:db8::1")


def test_it_never_moves_last_use_backwards(issue_key):
    key, _ = issue_key()
    ApiKey.objects.record_last_used({key.public_id: (T0, "198.51.100.1")})
    assert ApiKey.objects.record_last_used({key.public_id: (T0 - timedelta(1), "10.0.0.1")}) == 0
    key.refresh_from_db()
    assert (key.last_used_at, key.last_used_ip) == (T0, "198.51.100.1")


def test_it_ignores_unknown_ids_and_empty_batches(issue_key):
    assert ApiKey.objects.record_last_used({}) == 0
    assert ApiKey.objects.record_last_used({"key_gone": (T0, None)}) == 0
