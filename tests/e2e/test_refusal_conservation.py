"""Every refusal of a known key through the real gateway is counted once, under its reason, by
key and endpoint, and the rollups, the API, the CSV and the dashboard agree with what nginx
answered."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Account
from billing.models import Subscription
from portal.redis_client import get_redis
from tests.gateway.stack import GatewayStack, hammer
from tests.gateway.support import make_key, make_plan, make_product
from usage.flush import flush
from usage.models import HourlyUsage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
QUOTA = 40
# (what the client sends, how many times, nginx's status, the outcome counted)
PLAN = {
    "ok": ("/demo/hello", 40, 200),
    "quota_exceeded": ("/demo/hello", 25, 429),
    "forbidden": ("/other/hello", 17, 403),  # a product the plan does not include
    "ip_not_allowed": ("/demo/hello", 13, 403),  # a key allowed from 10.9.9.9 only
    "inactive_key": ("/demo/hello", 11, 401),  # a revoked key
    "payment_required": ("/demo/hello", 7, 402),  # another account, past due past its grace
}


@pytest.fixture
def stack(tmp_path, redis_db):
    demo, other = make_product(), make_product("other", "/other/")
    plan = make_plan(
        "capped", [demo], is_default=True, requests_per_second=100000,
        requests_per_minute=1000000, requests_per_period=QUOTA,
    )  # fmt: skip
    assert other not in plan.products.all()
    running = GatewayStack(tmp_path)
    running.upstreams.append(f"other=http://127.0.0.1:{running.demo_port}")
    running.start()
    yield running
    running.stop()


@pytest.fixture
def owing(charlie) -> Account:
    account = Account.objects.get(memberships__user=charlie, is_personal=True)
    now = timezone.now()
    Subscription.objects.create(
        stripe_id="sub_owing", account=account, status="past_due", started_at=now - timedelta(40),
        current_period_start=now - timedelta(10), current_period_end=now + timedelta(20),
        past_due_since=now - timedelta(10),
    )  # fmt: skip
    return account


def test_every_refusal_is_counted_once_by_reason_key_and_endpoint(
    stack, client, alice, team, owing
):
    raw, key = make_key(team, name="main")
    walled, walled_key = make_key(team, name="walled", allowed_ips=["10.9.9.9"])
    revoked, revoked_key = make_key(team, name="old", revoked_at=timezone.now() - timedelta(1))
    owed, owed_key = make_key(owing, name="owed")
    raws = {"ip_not_allowed": walled, "inactive_key": revoked, "payment_required": owed}
    keys = {"ip_not_allowed": walled_key, "inactive_key": revoked_key, "payment_required": owed_key}

    answered: Counter[tuple[str, int]] = Counter()
    for outcome, (path, times, _) in PLAN.items():  # in order: the quota fills first
        for got, n in hammer(stack.port, path, raws.get(outcome, raw), times, 4).items():
            answered[(outcome, got)] += n
    assert answered == Counter({(o, status): n for o, (_, n, status) in PLAN.items()})

    flush(get_redis())
    flush(get_redis())  # a second run finds nothing new
    for outcome, (path, times, _) in PLAN.items():
        rows = HourlyUsage.objects.filter(key_id=keys.get(outcome, key).public_id, outcome=outcome)
        assert rows.aggregate(n=Sum("count"))["n"] == times, outcome
        product = path.split("/")[1]
        assert set(rows.values_list("product", "endpoint")) == {(product, "GET /hello")}, outcome

    client.force_login(alice)
    today = timezone.now().date()
    start, end = (today - timedelta(days=1)).isoformat(), today.isoformat()
    query = {"start": start, "end": end, "by": "hour"}
    api_rows = client.get("/api/v1/usage/", {**query, "account": team.slug}).json()["results"]
    csv_body = b"".join(
        client.get(f"/a/{team.slug}/usage/export.csv", query).streaming_content
    ).decode()
    csv_rows = list(csv.DictReader(io.StringIO(csv_body)))
    expected = {o: n for o, (_, n, _) in PLAN.items() if o != "payment_required"}
    for source in (api_rows, csv_rows):
        by_outcome: Counter[str] = Counter()
        for row in source:
            by_outcome[row["outcome"]] += int(row["count"])
        assert by_outcome == expected

    page = client.get(f"/a/{team.slug}/usage/", {"range": "24h"}).content.decode()
    for outcome in ("quota_exceeded", "forbidden", "ip_not_allowed", "inactive_key"):
        assert f'data-testid="denied-{outcome}">{expected[outcome]}<' in page
