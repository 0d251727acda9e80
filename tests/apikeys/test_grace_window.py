from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from apikeys import records
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("grace", "length"),
    [("1h", timedelta(hours=1)), ("24h", timedelta(hours=24)), ("7d", timedelta(days=7))],
)
def test_the_old_key_works_until_the_window_ends_and_not_a_second_longer(
    alice, issue_key, grace, length
):
    from apikeys.models import GRACE_PERIODS

    with time_machine.travel(START, tick=False) as clock:
        old, old_raw = issue_key()
        new, new_raw = old.rotate(GRACE_PERIODS[grace], actor=alice)
        old.refresh_from_db()
        assert old.grace_ends_at == START + length

        clock.move_to(START + length - timedelta(seconds=1))
        record = records.lookup(old_raw)
        assert record.is_usable_at((START + length - timedelta(seconds=1)).timestamp())
        assert old.is_usable()
        assert old.status() == "retiring"
        assert ApiKey.objects.active().filter(pk=old.pk).exists()

        clock.move_to(START + length)
        assert not records.lookup(old_raw).is_usable_at((START + length).timestamp())
        assert not old.is_usable()
        assert old.status() == "revoked"
        assert not ApiKey.objects.active().filter(pk=old.pk).exists()
        assert new.is_usable() and records.lookup(new_raw).status == "active"


def test_revoke_now_ends_a_grace_window_early(alice, issue_key, django_capture_on_commit_callbacks):
    old, old_raw = issue_key()
    old.rotate(timedelta(days=7), actor=alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert old.revoke(actor=alice)
    assert records.lookup(old_raw).status == "revoked"
