"""The gateway spends prepaid credits in its one Lua call: a call costs its units, a refused
call nothing; at zero the answer is credits_exhausted (402 through nginx, tests/e2e)."""

from __future__ import annotations

import pytest

from core.redis_keys import credits_key
from credits import balance
from credits.models import CreditEntry
from tests.credits.conftest import grant, running_pass
from tests.gateway.support import ask, forget_caches, make_key

pytestmark = pytest.mark.django_db


def outcomes(raw, n):
    answers = [ask(raw) for _ in range(n)]
    return [status if status == 204 else headers["X-Deny-Reason"] for status, headers, _ in answers]


def test_each_admitted_call_spends_a_unit_and_zero_refuses(free_plan, pack, team, redis_db):
    grant(team, pack)
    raw, _ = make_key(team)
    assert outcomes(raw, 12) == [204] * 10 + ["credits_exhausted"] * 2
    assert balance.balance_of(team.pk) == 0
    assert int(redis_db.hget(credits_key(team.pk), "used")) == 10  # refusals spent nothing


def test_each_answer_says_the_units_left(free_plan, pack, team, redis_db):
    grant(team, pack)
    raw, _ = make_key(team)
    assert [ask(raw)[1]["X-Credits-Remaining"] for _ in range(3)] == ["9", "8", "7"]
    test_raw, _ = make_key(team, environment="test")
    assert "X-Credits-Remaining" not in ask(test_raw)[1]


def test_a_new_purchase_lets_calls_through_again(free_plan, pack, team, redis_db):
    grant(team, pack)
    raw, _ = make_key(team)
    outcomes(raw, 11)
    grant(team, pack, reference="cs_test_2")
    assert outcomes(raw, 11) == [204] * 10 + ["credits_exhausted"]


def test_a_replayed_purchase_grants_once(free_plan, pack, team, redis_db):
    assert grant(team, pack) is not None
    assert grant(team, pack) is None
    assert balance.balance_of(team.pk) == 10
    assert CreditEntry.objects.filter(account=team).balance() == 10


def test_rate_limited_calls_spend_nothing(free_plan, pack, team, redis_db):
    pack.plan.requests_per_second = 3
    pack.plan.save()
    grant(team, pack)
    raw, _ = make_key(team)
    assert outcomes(raw, 5) == [204] * 3 + ["rate_limited"] * 2
    assert balance.balance_of(team.pk) == 7


def test_test_keys_never_spend_credits(free_plan, pack, team, redis_db):
    grant(team, pack)
    raw, _ = make_key(team, environment="test")
    assert outcomes(raw, 3) == [204] * 3
    assert balance.balance_of(team.pk) == 10


def test_a_balance_redis_lost_is_seeded_from_the_ledger(free_plan, pack, team, redis_db):
    grant(team, pack)
    raw, _ = make_key(team)
    outcomes(raw, 4)
    redis_db.flushdb()  # a Redis restarted without its data; the 4 calls were not flushed yet
    assert outcomes(raw, 11) == [204] * 10 + ["credits_exhausted"]


def test_a_grant_whose_redis_step_crashed_is_counted_by_the_seed(free_plan, pack, team, redis_db):
    from credits import ledger
    from credits.models import EntryKind

    ledger.grant_pack(team, pack, EntryKind.PURCHASE, "cs_crashed", None)  # no on-commit ran
    raw, _ = make_key(team)
    assert outcomes(raw, 11) == [204] * 10 + ["credits_exhausted"]
    entry = CreditEntry.objects.get(reference="cs_crashed")
    assert entry.applied_to_redis
    balance.apply_grant(entry)  # what the flush does with a grant it thinks unapplied: nothing
    assert balance.balance_of(team.pk) == 0


def test_a_running_pass_is_used_before_credits(free_plan, pack, day_pass, team, redis_db):
    grant(team, pack)
    running_pass(team, day_pass)
    raw, _ = make_key(team)
    assert outcomes(raw, 4) == [204] * 3 + ["quota_exceeded"]  # the pass's own quota
    assert balance.balance_of(team.pk) == 10


def test_an_expired_pass_refuses_live_calls(free_plan, day_pass, team, redis_db):
    running_pass(team, day_pass, hours_left=-1, hours_ago=25)
    raw, _ = make_key(team)
    test_raw, _ = make_key(team, environment="test")
    assert outcomes(raw, 2) == ["pass_expired"] * 2
    assert outcomes(test_raw, 1) == [204]


def test_an_expired_pass_hands_over_to_credits(free_plan, pack, day_pass, team, redis_db):
    running_pass(team, day_pass, hours_left=-1, hours_ago=25)
    grant(team, pack)
    raw, _ = make_key(team)
    assert outcomes(raw, 11) == [204] * 10 + ["credits_exhausted"]


def test_a_subscription_plan_wins_over_credits(free_plan, pack, team, redis_db):
    grant(team, pack)
    team.plan = free_plan
    team.save()
    forget_caches()
    raw, _ = make_key(team)
    assert outcomes(raw, 6) == [204] * 5 + ["quota_exceeded"]
    assert balance.balance_of(team.pk) == 10


def test_a_grant_racing_a_seed_that_read_the_ledger_before_it_is_not_lost(
    free_plan, pack, team, redis_db, monkeypatch
):
    from credits import ledger
    from credits.models import EntryKind

    old = grant(team, pack)
    redis_db.flushdb()  # no balance: the next grant finds none and seeds
    new = ledger.grant_pack(team, pack, EntryKind.PURCHASE, "cs_racing", None)

    def seed_of_a_racing_call(account_id, client=None):
        # The gateway's seed read the ledger before `new` committed, and set the balance first.
        redis_db.hsetnx(credits_key(account_id), "balance", old.units)
        redis_db.sadd(f"tg:{{acct:{account_id}}}:credits:grants", old.pk)
        return False

    monkeypatch.setattr(balance, "seed", seed_of_a_racing_call)
    balance.apply_grant(new)
    assert balance.balance_of(team.pk) == 20 == CreditEntry.objects.filter(account=team).balance()
