"""Each event type reaches a real HTTPS receiver once per occurrence, signed."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from apikeys.models import ApiKey
from apikeys.reminders import send_expiry_reminders
from tests.billing.conftest import (
    _simulator_in_process,
    _simulator_server,
    plans,
    run_and_deliver,
    sim,
    subscribe,
)
from tests.usage.conftest import live_key, pro_plan
from tests.usage.support import count_usage
from tests.webhooks.helpers import signed_events, types_of
from usage.tasks import flush_counters
from webhooks.models import SUBSCRIBABLE, Delivery

pytestmark = pytest.mark.django_db(transaction=True)
# Fixtures used here.
__all__ = ["_simulator_in_process", "_simulator_server", "live_key", "plans", "pro_plan", "sim"]

ALL_TYPES = [t.value for t in SUBSCRIBABLE]


@pytest.fixture
def endpoint(api, alice, team, receiver):
    api.force_login(alice)
    response = api.post(
        f"/api/v1/accounts/{team.slug}/webhooks/",
        {"url": receiver.url(), "event_types": ALL_TYPES, "description": "all"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_key_events_once_per_occurrence(endpoint, receiver, team, alice):
    key, _ = ApiKey.objects.issue(team, name="Production", created_by=alice)
    new, _ = key.rotate(timedelta(hours=1), actor=alice)
    new.rotate(timedelta(0), actor=alice)  # ends `key`'s grace: revoked as successor rotated
    assert key.revoke(actor=alice) is False  # already revoked: nothing new
    expiring, _ = ApiKey.objects.issue(
        team, name="Short", created_by=alice, expires_at=timezone.now() + timedelta(days=3)
    )
    assert send_expiry_reminders() == 1
    assert send_expiry_reminders() == 0

    events = signed_events(receiver, endpoint["secret"])
    assert Counter(types_of(events)) == {
        "key.created": 4,  # Production, its two successors, Short
        "key.rotated": 2,
        "key.revoked": 1,  # key (its successor rotated); `new` stopped as key.rotated says
        "key.expiring": 1,
    }
    assert len({e["id"] for e in events}) == len(events)
    [expiry] = [e for e in events if e["type"] == "key.expiring"]
    assert expiry["data"]["key"]["id"] == expiring.public_id
    assert expiry["account"] == team.slug
    assert Delivery.objects.filter(status="succeeded").count() == len(events)


def test_quota_events_once_per_threshold(endpoint, receiver, team, pro_plan, live_key, redis_db):
    team.plan = pro_plan  # 1,000 calls a period
    team.save()
    hour = timezone.now().strftime("%Y%m%d%H")

    def traffic(n):
        count_usage(
            redis_db, f"tg:{{acct:{team.id}}}:use:{hour}", f"{live_key.public_id}|d|GET /|ok", n
        )

    traffic(850)
    flush_counters()
    flush_counters()
    traffic(200)
    flush_counters()
    flush_counters()
    events = signed_events(receiver, endpoint["secret"])
    assert types_of(events) == [
        "quota.threshold_reached",
        "quota.threshold_reached",
        "quota.exhausted",
    ]
    assert [e["data"]["threshold"] for e in events] == [80, 100, 100]
    assert events[2]["data"]["used"] == 1050


def test_billing_events_once_per_occurrence(endpoint, receiver, client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    sim.control(f"subscriptions/{sub_id}/fail_next_payment")
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/pay"))
    events = signed_events(receiver, endpoint["secret"])
    billing = [e for e in events if not e["type"].startswith("key.")]
    assert Counter(types_of(billing)) == {
        "subscription.changed": 1,
        "invoice.paid": 2,  # the first period's, and the renewal once paid
        "invoice.payment_failed": 1,
    }
    [started] = [e for e in billing if e["type"] == "subscription.changed"]
    assert started["data"]["subscription"]["change"] == "started"
    assert started["data"]["subscription"]["plan"] == "starter"
    assert mail.outbox  # the emails still go as before


def test_an_endpoint_gets_only_the_types_it_chose(api, alice, team, receiver):
    api.force_login(alice)
    response = api.post(
        f"/api/v1/accounts/{team.slug}/webhooks/",
        {"url": receiver.url(), "event_types": ["key.revoked"]},
        format="json",
    )
    key, _ = ApiKey.objects.issue(team, name="k", created_by=alice)
    key.revoke(actor=alice)
    events = signed_events(receiver, response.json()["secret"])
    assert types_of(events) == ["key.revoked"]
    assert events[0]["data"]["key"]["id"] == key.public_id


def test_credit_events_once_per_dip(endpoint, receiver, team, redis_db):
    from decimal import Decimal

    from catalog.models import CreditPack
    from credits import balance, ledger
    from credits.models import CreditWallet, EntryKind
    from credits.tasks import flush as flush_credits
    from tests.gateway.support import ask, forget_caches, make_key, make_plan, make_product

    payg = make_plan("payg", [make_product()])
    pack = CreditPack.objects.create(slug="ten", name="Ten", credits=10, price=Decimal(1),
                                     plan=payg)  # fmt: skip
    ledger.grant_pack(team, pack, EntryKind.PURCHASE, "cs_1", None)
    CreditWallet.objects.filter(account=team).update(low_balance_below=4)
    forget_caches()
    raw, _ = make_key(team)
    for spent in (7, 5):  # 3 left: low; then 0: exhausted
        for _ in range(spent):
            ask(raw)
        flush_credits()
        flush_credits()
    assert balance.balance_of(team.pk) == 0
    events = signed_events(receiver, endpoint["secret"])
    assert types_of(events) == ["credits.low", "credits.exhausted"]
    assert [e["data"]["balance"] for e in events] == [3, 0]
