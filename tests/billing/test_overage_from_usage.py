"""Overage flows from the usage ledger to the Billing Meter once per batch; test keys never."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apikeys.models import ApiKey
from billing.models import MeterReport
from tests.billing.conftest import subscribe
from tests.billing.test_metering import upcoming_overage_calls
from tests.usage.support import count_usage
from usage.models import OverageToReport
from usage.tasks import flush_counters


def traffic(redis_db, account, key, calls):
    hour = timezone.now().strftime("%Y%m%d%H")
    kind = "use" if key.environment == "live" else "test-use"
    count_usage(
        redis_db,
        f"tg:{{acct:{account.id}}}:{kind}:{hour}",
        f"{key.public_id}|demo|GET /x|ok",
        calls,
    )


@pytest.fixture
def subscribed(client, plans, team, alice, sim, redis_db):
    subscribe(sim, client, team, plans["starter"], alice)  # 1,000 calls, then $0.50 per 1,000
    team.refresh_from_db()
    return team


def test_calls_beyond_the_quota_reach_the_meter_once(subscribed, redis_db):
    key, _ = ApiKey.objects.issue(subscribed, name="live", environment="live")
    traffic(redis_db, subscribed, key, 900)
    flush_counters()
    assert not OverageToReport.objects.exists()
    traffic(redis_db, subscribed, key, 300)  # 1,200: 200 over
    flush_counters()
    flush_counters()
    assert [r.quantity for r in MeterReport.objects.all()] == [200]
    assert upcoming_overage_calls(subscribed) == 200
    traffic(redis_db, subscribed, key, 50)
    flush_counters()
    assert sorted(r.quantity for r in MeterReport.objects.all()) == [50, 200]
    assert not OverageToReport.objects.filter(sent_at__isnull=True).exists()


def test_test_keys_are_never_billed(subscribed, redis_db):
    key, _ = ApiKey.objects.issue(subscribed, name="sandbox", environment="test")
    traffic(redis_db, subscribed, key, 5000)
    flush_counters()
    assert not MeterReport.objects.exists()
