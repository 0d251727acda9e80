from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Account
from gateway import policy
from tests.gateway.support import ask, forget_caches, make_key, make_plan
from usage.models import UsagePreferences

pytestmark = pytest.mark.django_db


@pytest.fixture
def metered(product, team):
    """5 calls included, then $1.00 per 1,000 calls of overage."""
    plan = make_plan(
        "metered", [product], is_default=True, requests_per_second=1000,
        requests_per_minute=10000, requests_per_period=5, overage_price_per_1000=Decimal("1.00"),
    )  # fmt: skip
    return plan


def statuses(raw, n):
    return [ask(raw)[0] for _ in range(n)]


def test_overage_is_admitted_without_a_cap(metered, team, redis_db):
    raw, _ = make_key(team)
    assert statuses(raw, 8) == [204] * 8


def test_the_spend_cap_stops_calls_once_the_overage_would_cost_more(metered, team, redis_db):
    UsagePreferences.objects.create(account=team, spend_cap=Decimal("0.01"))  # buys 10 calls
    raw, _ = make_key(team)
    assert statuses(raw, 16) == [204] * 15 + [403]
    status, headers, _ = ask(raw)
    assert status == 403 and headers["X-Deny-Reason"] == "quota_exceeded"


def test_raising_the_cap_lets_calls_through_again(client, alice, metered, team, redis_db):
    UsagePreferences.objects.create(account=team, spend_cap=Decimal("0"))
    raw, _ = make_key(team)
    assert statuses(raw, 6) == [204] * 5 + [403]
    client.force_login(alice)
    response = client.post(
        f"/a/{team.slug}/usage/alerts/", {"extra_thresholds": "", "spend_cap": "1.00"}
    )
    assert response.status_code == 302
    forget_caches()  # what the invalidation message does in every gateway process
    assert statuses(raw, 3) == [204] * 3


def test_a_batch_of_policies_reads_every_cap_in_its_own_two_queries(
    metered, team, alice, django_assert_num_queries
):
    """Reloads read policies 500 accounts at a time (core.refresh): a query per account for its
    cap was 500 more queries per batch on a metered plan."""
    caps = [Decimal("0.01"), Decimal("0"), None, Decimal("2.50")]
    accounts = [Account.objects.create_with_owner(f"capped {n}", alice) for n in range(4)]
    for account, cap in zip(accounts, caps, strict=True):
        if cap is not None:
            UsagePreferences.objects.create(account=account, spend_cap=cap)
    ids = [team.pk, *(a.pk for a in accounts)]
    now = datetime.now(UTC).timestamp()
    policy.read_policies(ids[:1], now)  # the plan, read once for every account on it
    with django_assert_num_queries(2):  # the subscriptions, then the accounts with their caps
        read = policy.read_policies(ids, now)
    limits = [(read[i].live.per_period, read[i].live.hard_cap) for i in ids]
    # 5 included; $0.01 buys 10 more at $1.00 per 1,000; no cap: overage without end.
    assert limits == [(5, False), (15, True), (5, True), (5, False), (2505, True)]
