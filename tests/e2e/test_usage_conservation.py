"""Every call through the real gateway is counted once, and every view of usage agrees."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from gateway.counting import account_tag
from portal.redis_client import get_redis
from tests.gateway.stack import GatewayStack, hammer
from tests.gateway.support import make_key, make_plan, make_product
from usage.flush import flush
from usage.models import HourlyUsage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
CALLS, QUOTA = 400, 300


@pytest.fixture
def stack(tmp_path, redis_db):
    make_plan(
        "capped", [make_product()], is_default=True, requests_per_second=100000,
        requests_per_minute=1000000, requests_per_period=QUOTA,
    )  # fmt: skip
    running = GatewayStack(tmp_path).start()
    yield running
    running.stop()


def test_redis_rollups_api_and_csv_agree_on_every_call(stack, client, alice, team):
    raw, key = make_key(team)
    statuses = hammer(stack.port, "/demo/hello", raw, total=CALLS, connections=20)
    assert statuses == {200: QUOTA, 429: CALLS - QUOTA}

    redis = get_redis()
    quota_keys = list(redis.scan_iter(match=f"{account_tag(team.pk)}:quota:live:*"))
    assert [int(redis.get(k)) for k in quota_keys] == [QUOTA]  # what the gateway admitted

    flush(redis)
    flush(redis)  # a second run finds nothing new
    rows = HourlyUsage.objects.filter(account=team, key_id=key.public_id)
    assert rows.filter(outcome="ok").aggregate(n=Sum("count"))["n"] == QUOTA
    assert rows.filter(outcome="quota_exceeded").aggregate(n=Sum("count"))["n"] == CALLS - QUOTA

    client.force_login(alice)
    today = timezone.now().date()
    # From yesterday: a run that crosses midnight UTC still sees every call.
    start, end = (today - timedelta(days=1)).isoformat(), today.isoformat()
    query = {"account": team.slug, "start": start, "end": end, "by": "hour"}
    api_rows = client.get("/api/v1/usage/", query).json()["results"]
    csv_body = b"".join(
        client.get(
            f"/a/{team.slug}/usage/export.csv", {k: v for k, v in query.items() if k != "account"}
        ).streaming_content
    ).decode()
    csv_rows = list(csv.DictReader(io.StringIO(csv_body)))
    for source in (api_rows, csv_rows):
        admitted = sum(int(r["count"]) for r in source if r["outcome"] == "ok")
        refused = sum(int(r["count"]) for r in source if r["outcome"] == "quota_exceeded")
        assert (admitted, refused) == (QUOTA, CALLS - QUOTA)
    glance = client.get(f"/api/v1/usage/{team.slug}/glance/").json()
    assert glance["used"] == QUOTA
