"""The flush and the counters poll find an account's counters through its own sets, never SCAN."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.db.models import Sum

from core.redis_keys import DIRTY_ACCOUNTS, DIRTY_IN_FLUSH, batches_key, live_hours_key
from gateway.policy import NO_LIMIT, Limits
from tests.gateway.support import make_key
from tests.usage.support import count_usage
from usage import reports
from usage.flush import claim, flush, sweep
from usage.models import HourlyUsage
from usage.tasks import flush_counters, send_quota_alerts

pytestmark = pytest.mark.django_db(transaction=True)
HOUR = "2026112322"


def live_key(account_id: int, hour: str = HOUR) -> str:
    return f"tg:{{acct:{account_id}}}:use:{hour}"


def total() -> int:
    return HourlyUsage.objects.aggregate(n=Sum("count"))["n"] or 0


def commands(client) -> dict[str, int]:
    """What Redis ran since the test's CONFIG RESETSTAT (which is not counted)."""
    return {
        name.removeprefix("cmdstat_"): stats["calls"]
        for name, stats in client.info("commandstats").items()
        if not name.startswith("cmdstat_config")
    }


def test_neither_the_flush_nor_the_counters_poll_scans_the_keyspace(redis_db, team):
    _, key = make_key(team)
    count_usage(redis_db, live_key(team.id), f"{key.public_id}|demo|GET /x|ok", 3)
    for other in range(1000, 1200):  # other accounts' counters, already flushed or never
        redis_db.set(f"tg:{{acct:{other}}}:quota:live:0", 5)
    redis_db.config_resetstat()
    glance = reports.glance(team, datetime.now(UTC))
    flush(redis_db)
    flush(redis_db)  # idle
    assert glance.used == 3 and total() == 3
    assert "scan" not in commands(redis_db)


def test_an_idle_flush_is_two_round_trips(redis_db, team):
    redis_db.config_resetstat()
    flush(redis_db)
    # RENAMENX finds no dirty set (Redis 6, the embedded one, leaves failed calls out of the
    # stats) and SMEMBERS no unfinished one.
    ran = commands(redis_db)
    assert ran["smembers"] == 1 and ran.get("renamenx", 1) == 1 and len(ran) <= 2


def test_a_flush_touches_only_the_accounts_that_had_calls(redis_db, team, user_factory):
    from accounts.models import Account

    busy = [Account.objects.create_with_owner(f"Busy {n}", user_factory()) for n in range(3)]
    for account in busy:
        count_usage(redis_db, live_key(account.id), "key_a|demo|GET /x|ok", 2)
    redis_db.config_resetstat()
    summary = flush(redis_db)
    assert summary.account_ids == {account.id for account in busy}
    # Per account: SMEMBERS of its hours and batches, the claim, HGETALL, DEL and SREM.
    assert commands(redis_db)["smembers"] == 2 * len(busy) + 1


def test_a_crashed_flushs_accounts_are_done_by_the_next_run(redis_db, team):
    count_usage(redis_db, live_key(team.id), "key_a|demo|GET /x|ok", 4)
    redis_db.rename(DIRTY_ACCOUNTS, DIRTY_IN_FLUSH)  # taken by a run that then died...
    claim(redis_db, live_key(team.id))  # ...after claiming
    count_usage(redis_db, live_key(team.id), "key_a|demo|GET /x|ok", 1)  # a fresh mark
    flush(redis_db)
    assert total() == 5
    assert list(redis_db.scan_iter(match="tg:*")) == []


def test_upgrading_a_live_redis_loses_no_counts(redis_db, team):
    """Hashes and batches written by the previous release have no per-account sets: the sweep
    (`manage.py sweep_counters`, also hourly) registers them, and the flush counts them once."""
    redis_db.hincrby(live_key(team.id), "key_a|demo|GET /x|ok", 6)
    redis_db.hincrby(live_key(team.id, "2026112321"), "key_a|demo|GET /x|ok", 2)
    redis_db.hincrby(f"tg:{{acct:{team.id}}}:batch:2026112320:0f0f", "key_a|demo|GET /x|ok", 5)
    redis_db.set(f"tg:{{acct:{team.id}}}:quota:live:0", 13)
    assert flush(redis_db).calls == 0  # not found before the sweep...
    assert sweep(redis_db) == 1
    assert flush(redis_db).calls == 13  # ...and counted once after it
    assert sweep(redis_db) == 0 and flush(redis_db).calls == 0
    assert total() == 13
    assert set(redis_db.scan_iter(match="tg:*")) == {f"tg:{{acct:{team.id}}}:quota:live:0".encode()}


def test_the_sweep_finds_a_hash_whose_dirty_mark_was_lost(redis_db, team):
    count_usage(redis_db, live_key(team.id), "key_a|demo|GET /x|ok", 2)
    redis_db.delete(DIRTY_ACCOUNTS)  # the gateway died between its script and its SADD
    flush(redis_db)
    assert total() == 0 and redis_db.sismember(live_hours_key(team.id), live_key(team.id))
    sweep(redis_db)
    flush(redis_db)
    assert total() == 2


def test_a_stale_name_in_the_sets_is_dropped(redis_db, team):
    redis_db.sadd(live_hours_key(team.id), live_key(team.id))
    redis_db.sadd(batches_key(team.id), f"tg:{{acct:{team.id}}}:batch:{HOUR}:gone")
    redis_db.sadd(DIRTY_ACCOUNTS, team.id)
    summary = flush(redis_db)
    assert (summary.claimed, summary.applied) == (0, 0)
    assert list(redis_db.scan_iter(match="tg:*")) == []


def test_the_gateway_counting_feeds_the_flush(redis_db, team):
    from gateway.counting import check_and_count, counter_keys

    _, key = make_key(team)
    now = datetime(2026, 11, 23, 22, 30, tzinfo=UTC).timestamp()
    keys = counter_keys(team.id, "live", now, 0)
    limits = Limits(NO_LIMIT, NO_LIMIT, 3, hard_cap=True)
    for _ in range(5):
        check_and_count(keys, limits, f"{key.public_id}|demo|GET /x", 3600)
    flush(redis_db)
    assert dict(HourlyUsage.objects.values_list("outcome", "count")) == {
        "ok": 3,
        "quota_exceeded": 2,
    }


def test_quota_alerts_are_a_task_of_their_own_and_send_once(redis_db, team, pro_plan, live_key):
    team.plan = pro_plan  # 1,000 calls
    team.save()
    hour = datetime.now(UTC).strftime("%Y%m%d%H")
    count_usage(redis_db, f"tg:{{acct:{team.id}}}:use:{hour}", f"{live_key.public_id}|d|x|ok", 850)
    flush_counters()  # eager here: the queued task ran
    assert len(mail.outbox) == 1
    assert send_quota_alerts(team.id) == [] and len(mail.outbox) == 1  # a redelivery sends nothing
    assert send_quota_alerts(987654) == []  # an account deleted since
