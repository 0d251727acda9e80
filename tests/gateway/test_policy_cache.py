"""The process's cache of account policies: bounded, long-lived, and exact about time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.models import Account
from billing.models import Subscription
from gateway import policy
from gateway.policy import PolicyCache
from tests.gateway.support import ask, make_key
from tests.helpers import wait_for

pytestmark = pytest.mark.usefixtures("redis_db", "free_plan")


def test_it_keeps_at_most_its_bound_dropping_the_least_recently_used(team, alice):
    others = [Account.objects.create_with_owner(f"other {n}", alice) for n in range(3)]
    cache = PolicyCache(max_entries=2)
    now = datetime.now(UTC).timestamp()
    cache.get(team.pk, now)
    cache.get(others[0].pk, now)
    cache.get(team.pk, now)  # used again: now the most recent
    cache.get(others[1].pk, now)
    assert len(cache) == 2
    assert set(cache.entries) == {team.pk, others[1].pk}


def test_a_cached_policy_is_not_loaded_again_within_its_ttl(team, settings, monkeypatch):
    settings.GATEWAY_POLICY_TTL_SECONDS = 300
    loads = []
    real_load = policy.load_policy
    monkeypatch.setattr(policy, "load_policy", lambda *a: loads.append(a) or real_load(*a))
    cache = PolicyCache(max_entries=10)
    now = datetime.now(UTC).timestamp()
    for _ in range(5):
        cache.get(team.pk, now)
    assert len(loads) == 1


def test_it_expires_a_policy_when_the_payment_grace_ends(team, settings):
    """payment_required turns on by itself when the grace ends: no event tells the gateway,
    so the cached policy must not outlive that moment, however long the TTL."""
    settings.GATEWAY_POLICY_TTL_SECONDS = 3600
    settings.BILLING_GRACE_DAYS = 3
    start = datetime(2026, 11, 1, tzinfo=UTC)
    past_due_since = datetime(2026, 11, 10, 12, tzinfo=UTC)
    Subscription.objects.create(
        account=team, stripe_id="sub_grace", status="past_due", started_at=start,
        current_period_start=start, current_period_end=start + timedelta(days=30),
        past_due_since=past_due_since,
    )  # fmt: skip
    raw, _ = make_key(team)
    grace_ends = past_due_since + timedelta(days=3)
    with time_machine.travel(grace_ends - timedelta(seconds=0.2), tick=False):
        assert ask(raw)[0] == 204  # cached now, but only until the grace ends
    time.sleep(0.3)  # the cache's clock is the monotonic one, which time-machine leaves alone
    with time_machine.travel(grace_ends, tick=False):
        status, headers, _ = ask(raw)
    assert (status, headers["X-Deny-Reason"]) == (403, "payment_required")


def test_a_load_that_raced_an_invalidation_is_not_kept(team, monkeypatch):
    """A load that read the database before an invalidation arrived may hold the state from
    before the change: it answers this call, but the next one loads again."""
    cache = PolicyCache(max_entries=10)
    real_load = policy.load_policy

    def load_then_hear_a_change(account_id, now):
        loaded = real_load(account_id, now)
        cache.forget(account_id)  # the invalidation arrives while the load is under way
        return loaded

    monkeypatch.setattr(policy, "load_policy", load_then_hear_a_change)
    assert cache.get(team.pk, datetime.now(UTC).timestamp()) is not None
    assert team.pk not in cache


def test_accounts_on_one_plan_read_the_plan_once(team, alice, django_assert_num_queries):
    """A gateway meeting many accounts reads each plan's products and features once: a
    further account's first policy is its own row and its subscription, nothing more."""
    other = Account.objects.create_with_owner("other", alice)
    now = datetime.now(UTC).timestamp()
    policy.plans.clear()
    first = policy.load_policy(team.pk, now)
    # The account (with whether it holds a pass or credits), then its subscription.
    with django_assert_num_queries(2):
        second = policy.load_policy(other.pk, now)
    assert first is not None and second is not None
    assert (second.plan_slug, second.entitlements) == ("free", first.entitlements)
    # Their limits are one object each, not two more per account for the garbage collector.
    assert (second.live, second.test) == (first.live, first.test)
    assert second.live is first.live and second.test is first.test


def test_a_cached_plan_builds_no_query(team, alice, monkeypatch):
    """Every policy (re)load asks for its plan: a hit must not even build a QuerySet, which
    cost three fifths of a policy's reload when the reader was a bound ``QuerySet.first``."""
    from catalog.models import Plan

    policy.plans.clear()
    own = Account.objects.create_with_owner("own plan", alice)
    own.plan = Plan.objects.get(slug="free")
    own.save(update_fields=["plan"])
    now = datetime.now(UTC).timestamp()
    policy.load_policy(team.pk, now)  # the default plan, read and kept
    policy.load_policy(own.pk, now)  # a plan of its own, by id, read and kept
    built = []
    real_filter = Plan.objects.filter
    monkeypatch.setattr(
        Plan.objects, "filter", lambda *a, **k: built.append(k) or real_filter(*a, **k)
    )
    assert policy.load_policy(team.pk, now) is not None
    assert policy.load_policy(own.pk, now) is not None
    assert built == []


def test_a_plan_read_that_raced_a_catalog_change_is_not_kept(team, monkeypatch):
    """Plans are dropped with the catalog (invalidation "*"): terms read before that arrived
    serve the load under way, but the next load reads the plan again."""
    from catalog.models import Plan
    from gateway import invalidation

    now = datetime.now(UTC).timestamp()
    policy.plans.clear()
    plan = Plan.objects.get(slug="free")
    real_read = policy.read_terms

    def read_while_the_catalog_changes(plan):
        terms = real_read(plan)
        invalidation.apply(invalidation.EVERYTHING)  # as the listener thread would, meanwhile
        return terms

    monkeypatch.setattr(policy, "read_terms", read_while_the_catalog_changes)
    policy.load_policy(team.pk, now)
    monkeypatch.undo()
    assert ("terms", plan.pk) not in policy.plans.entries
    Plan.objects.filter(pk=plan.pk).update(features={"insights": True})
    invalidation.apply(invalidation.EVERYTHING)
    assert policy.load_policy(team.pk, now).features == {"insights": True}


@pytest.mark.django_db(transaction=True)  # the refresher's thread reads committed rows
def test_a_busy_policy_is_reloaded_in_the_background_before_it_expires(
    team, free_plan, django_assert_num_queries
):
    from catalog.models import Plan

    pro = Plan.objects.create(slug="pro", name="Pro", requests_per_period=100_000)
    cache = PolicyCache(max_entries=10)
    now = time.time()
    loaded = cache.get(team.pk, now)
    assert loaded.plan_slug == free_plan.slug and loaded.refresh_at < loaded.expires_at
    cache.entries.put(team.pk, loaded, loaded.expires_at, refresh_at=time.monotonic() - 1)
    Account.objects.filter(pk=team.pk).update(plan=pro)  # behind the ORM's back: no invalidation
    with django_assert_num_queries(0):  # the call goes on with what it has, at once
        assert cache.get(team.pk, now).plan_slug == free_plan.slug
    wait_for(lambda: cache.get(team.pk, time.time()).plan_slug == "pro", what="the reload")
    assert cache.refresher.reloaded == 1


def test_a_policy_ending_with_a_change_of_standing_is_not_reloaded_early(settings):
    settings.GATEWAY_POLICY_TTL_SECONDS = 300
    expires_at, refresh_at = policy.expiry(datetime.now(UTC) + timedelta(seconds=30))
    assert refresh_at is None and expires_at == pytest.approx(time.monotonic() + 30, abs=1)
    expires_at, refresh_at = policy.expiry(None)
    lifetime = expires_at - time.monotonic()
    assert 240 - 1 <= lifetime <= 300  # less up to a fifth, so loads made together spread
    # Reloaded from a point drawn between 60% and 80% of its life (core.refresh).
    assert lifetime * 0.2 - 1 <= expires_at - refresh_at <= lifetime * 0.4 + 1


def test_policies_first_loaded_together_come_due_over_most_of_a_cycle(team, alice, settings):
    """Their first reloads are spread from about a fifth of the TTL on (core.refresh.sooner)."""
    settings.GATEWAY_POLICY_TTL_SECONDS = 300
    accounts = [Account.objects.create_with_owner(f"spread {n}", alice) for n in range(20)]
    cache = PolicyCache(max_entries=100)
    cache.load([a.pk for a in accounts])
    points = [cache.entries.refresh_point(a.pk) - time.monotonic() for a in accounts]
    # A policy lives 240-300 s, is reloaded from 60-80% of that, and first from a third of it.
    assert all(0.6 * 240 / 3 - 1 <= point <= 0.8 * 300 for point in points)
    assert min(points) < 0.6 * 240  # P(none of 20 below) < 1e-9


def test_a_batch_of_policies_reads_as_each_account_alone(team, alice, product):
    """Reloads and first loads read policies in batches, from the accounts' plain rows (not
    model instances): each policy must be the one its account's own read makes, whatever the
    account holds (a comp plan, a pass, credits, an expired pass, a spend cap, nothing), and a
    closed account has none."""
    from dataclasses import replace
    from decimal import Decimal

    from credits.models import CreditWallet, TimePass
    from tests.gateway.support import make_plan
    from usage.models import UsagePreferences

    now = datetime.now(UTC)
    comp = make_plan("comp", [product], requests_per_second=7)
    prepaid = make_plan("prepaid", [product], requests_per_period=1000)
    metered = make_plan("metered", [product], requests_per_period=5,
                        overage_price_per_1000=Decimal("1.00"))  # fmt: skip
    kinds = ["plain", "comp", "pass", "credits", "expired pass", "capped", "closed"]
    accounts = {kind: Account.objects.create_with_owner(kind, alice) for kind in kinds}
    Account.objects.filter(pk=accounts["comp"].pk).update(plan=comp)
    Account.objects.filter(pk=accounts["capped"].pk).update(plan=metered)
    UsagePreferences.objects.create(account=accounts["capped"], spend_cap=Decimal("0.02"))
    Account.objects.filter(pk=accounts["closed"].pk).update(closed_at=now)
    for kind, ends in (("pass", now + timedelta(days=1)), ("expired pass", now)):
        TimePass.objects.create(account=accounts[kind], plan=prepaid, checkout_session_id=kind,
                                starts_at=now - timedelta(days=1), ends_at=ends)  # fmt: skip
    CreditWallet.objects.create(account=accounts["credits"], plan=prepaid)
    ids = [account.pk for account in accounts.values()]

    at = now.timestamp()
    batch = policy.read_policies(ids, at)
    alone = {account_id: policy.read_policies([account_id], at)[account_id] for account_id in ids}

    def comparable(read):  # each read draws its own expiry
        return read and replace(read, expires_at=0.0, refresh_at=None)

    assert {k: comparable(p) for k, p in batch.items()} == {
        k: comparable(p) for k, p in alone.items()
    }
    by_kind = {kind: batch[accounts[kind].pk] for kind in kinds}
    assert by_kind["closed"] is None
    assert by_kind["comp"].plan_slug == "comp" and by_kind["comp"].live.per_second == 7
    assert by_kind["pass"].plan_slug == "prepaid" and not by_kind["pass"].credits
    assert by_kind["credits"].credits and by_kind["expired pass"].pass_expired
    assert by_kind["capped"].live.per_period == 25 and by_kind["capped"].live.hard_cap
    assert by_kind["plain"].plan_slug == "free"
