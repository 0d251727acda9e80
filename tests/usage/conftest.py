from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apikeys import keys
from apikeys.models import ApiKey
from catalog.models import Plan
from usage.counters import Tally
from usage.flush import add_to_rollups


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


def add_usage(account, key, hour: datetime, count: int, outcome="ok", endpoint="GET /demo/hello",
              units: int | None = None):  # fmt: skip
    """Rollup rows as the flush writes them (hourly, daily and the summaries), with its code;
    admitted calls take a unit each unless `units` says otherwise."""
    units = (count if outcome == "ok" else 0) if units is None else units
    add_to_rollups(
        account.id, hour, {(key.public_id, "demo", endpoint, outcome): Tally(count, units)}
    )


@pytest.fixture
def some_usage(team, live_key):
    add_usage(team, live_key, datetime(2026, 11, 23, 20, tzinfo=UTC), 120)
    add_usage(
        team, live_key, datetime(2026, 11, 23, 21, tzinfo=UTC), 30, endpoint="POST /demo/echo"
    )
    add_usage(team, live_key, datetime(2026, 11, 23, 21, tzinfo=UTC), 5, outcome="rate_limited")
    add_usage(team, live_key, datetime(2026, 11, 2, 9, tzinfo=UTC), 700)
