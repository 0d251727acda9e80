from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apikeys import keys
from apikeys.models import ApiKey
from catalog.models import Plan
from usage.models import DailyUsage, HourlyUsage


@pytest.fixture
def pro_plan(db):
    return Plan.objects.create(
        slug="pro", name="Pro", monthly_price="29.00", requests_per_period=1000,
        overage_price_per_1000="0.5000",
    )  # fmt: skip


@pytest.fixture
def live_key(team):
    raw = keys.generate("live")
    return ApiKey.objects.create(
        account=team, name="Production", environment="live", prefix=keys.display_prefix(raw),
        last4=raw[-4:], key_hash=keys.hash_key(raw),
    )  # fmt: skip


def add_usage(account, key, hour: datetime, count: int, outcome="ok", endpoint="GET /demo/hello"):
    """Rollup rows as the flush writes them (hourly and the daily sum)."""
    HourlyUsage.objects.create(
        account=account, key_id=key.public_id, environment=key.environment, product="demo",
        endpoint=endpoint, hour=hour, outcome=outcome, count=count,
    )  # fmt: skip
    daily, _ = DailyUsage.objects.get_or_create(
        account=account, key_id=key.public_id, environment=key.environment, product="demo",
        endpoint=endpoint, day=hour.date(), outcome=outcome,
    )  # fmt: skip
    daily.count += count
    daily.save()


@pytest.fixture
def some_usage(team, live_key):
    add_usage(team, live_key, datetime(2026, 11, 23, 20, tzinfo=UTC), 120)
    add_usage(
        team, live_key, datetime(2026, 11, 23, 21, tzinfo=UTC), 30, endpoint="POST /demo/echo"
    )
    add_usage(team, live_key, datetime(2026, 11, 23, 21, tzinfo=UTC), 5, outcome="rate_limited")
    add_usage(team, live_key, datetime(2026, 11, 2, 9, tzinfo=UTC), 700)
