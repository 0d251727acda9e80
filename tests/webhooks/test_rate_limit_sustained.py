"""`rate_limit.sustained`: one signed event per episode of continuous rate limiting, built on
the refusals the gateway counts (real decisions through the auth endpoint, real Redis), as the
flush moves them; never one per refused call, never twice for a batch applied again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from portal.celery import app as celery_app
from portal.celery import ping
from portal.redis_client import get_redis
from tests.gateway.support import ask, forget_caches, make_key, make_plan, make_product
from tests.helpers import celery_worker
from tests.webhooks.helpers import signed_events, types_of, worker_env
from usage import flush as usage_flush
from usage.models import RateLimitEpisode
from usage.tasks import flush_counters
from webhooks import endpoints
from webhooks.models import Delivery, Event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def limited(team, alice, redis_db):
    """A live key of a plan that admits one call a minute: every other call is rate limited."""
    team.plan = make_plan("tiny", [make_product()], requests_per_minute=1)
    team.save()
    raw, _ = make_key(team)
    return raw


@pytest.fixture
def subscribed(team, alice, receiver):
    endpoint = endpoints.create(
        team, alice, None, url=receiver.url(), event_types=["rate_limit.sustained"]
    )
    return endpoint.secret


def calls(raw: str, n: int) -> list[str]:
    return [ask(raw)[1].get("X-Deny-Reason", "ok") for _ in range(n)]


def test_one_event_per_episode_not_per_refusal(limited, subscribed, receiver, team, settings):
    settings.RATE_LIMIT_SUSTAINED_SECONDS = 300
    settings.RATE_LIMIT_SUSTAINED_GAP_SECONDS = 90
    # Deliveries are due at the event's time: keep the simulated clock in the past.
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    reasons = []

    def refused_every_30s(start: datetime, steps: int) -> None:
        for step in range(steps):
            with time_machine.travel(start + timedelta(seconds=30 * step), tick=False):
                reasons.extend(calls(limited, 4))
                flush_counters()
                flush_counters()  # a second flush finds nothing new

    def received() -> list[dict]:
        return signed_events(receiver, subscribed)

    refused_every_30s(t0, 10)  # 4 min 30 s: not yet sustained
    assert received() == []
    refused_every_30s(t0 + timedelta(minutes=5), 4)  # the 5th minute: sustained
    [first] = received()
    assert first["type"] == "rate_limit.sustained" and first["account"] == team.slug
    assert first["data"]["started_at"] == t0.isoformat()
    assert first["data"]["sustained_seconds"] == 300
    # The refusals counted up to the flush that announced it (one call a minute admitted).
    assert first["data"]["refused"] == reasons[:44].count("rate_limited") > 30
    assert first["data"]["limits"] == {"requests_per_second": None, "requests_per_minute": 1}
    assert set(reasons) == {"ok", "rate_limited"}

    # Two minutes without refusals end the episode; the next one starts afresh.
    restart = t0 + timedelta(minutes=9)
    refused_every_30s(restart, 8)  # 3 min 30 s
    assert len(received()) == 1
    refused_every_30s(restart + timedelta(minutes=4), 3)  # 5 min since the restart
    events = received()
    assert len(events) == 2 and events[1]["data"]["started_at"] == restart.isoformat()
    assert len({e["id"] for e in events}) == 2
    assert RateLimitEpisode.objects.filter(account=team).count() == 2


def test_a_batch_applied_again_changes_no_episode(limited, subscribed, receiver, team, settings):
    """A flush that crashed before forgetting its batch: the next run applies it again (a
    no-op); the episode's count and the events stay as they were."""
    settings.RATE_LIMIT_SUSTAINED_SECONDS = 60
    redis = get_redis()
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    kept, reasons = [], []
    real_forget = usage_flush.forget

    def crash_before_forgetting(client, batch_key):
        kept.append(batch_key)  # the batch stays in Redis and in the account's set

    for step in range(3):
        with time_machine.travel(t0 + timedelta(seconds=30 * step), tick=False):
            reasons += calls(limited, 3)
            usage_flush.forget = crash_before_forgetting
            try:
                usage_flush.flush(redis)
            finally:
                usage_flush.forget = real_forget
            usage_flush.flush(redis)  # re-applies the kept batches, then forgets them
            usage_flush.flush(redis)
    episode = RateLimitEpisode.objects.get(account=team)
    assert episode.refused == reasons.count("rate_limited") >= 7  # each refusal once
    assert len(set(kept)) == 3 and len(kept) > 3  # batches were applied again
    assert types_of(signed_events(receiver, subscribed)) == ["rate_limit.sustained"]
    assert Event.objects.filter(type="rate_limit.sustained").count() == 1


def test_test_keys_and_other_refusals_start_no_episode(team, alice, redis_db, settings):
    team.plan = make_plan("tiny", [make_product()], requests_per_minute=1)
    team.save()
    raw_test, _ = make_key(team, environment="test")
    settings.GATEWAY_TEST_KEY_RPM = 1
    raw_live, live = make_key(team)
    live.allowed_ips = ["192.0.2.1"]
    live.save()
    forget_caches()
    assert set(calls(raw_test, 3)) == {"ok", "rate_limited"}
    assert set(calls(raw_live, 2)) == {"ip_not_allowed"}
    flush_counters()
    assert not RateLimitEpisode.objects.exists()


@pytest.mark.e2e
def test_end_to_end_with_a_celery_worker(limited, subscribed, receiver, team, trust_test_ca,
                                         tmp_path):  # fmt: skip
    """The worker runs the flush (as beat schedules it) and the delivery; the gateway's
    refusals are real. A sustained length of 4 s keeps the test short; the gap allowed (10 s)
    is wider than any stall of a loaded machine, so the episode is one."""
    env = worker_env(
        trust_test_ca,
        tmp_path,
        RATE_LIMIT_SUSTAINED_SECONDS="4",
        RATE_LIMIT_SUSTAINED_GAP_SECONDS="10",
    )
    celery_app.conf.task_always_eager = False

    def refused_and_flushed() -> None:
        calls(limited, 3)
        flush_counters.delay().get(timeout=30)
        flush_counters.delay().get(timeout=30)  # a duplicate run: nothing new

    with celery_worker(env=env, queues="celery,webhooks", pool=("threads", "--concurrency", "2")):
        assert ping.delay("up").get(timeout=30) == "up"
        started = time.monotonic()
        while not Delivery.objects.filter(status="succeeded").exists():
            assert time.monotonic() - started < 60, "no rate_limit.sustained delivery"
            refused_and_flushed()
            time.sleep(0.5)
        assert time.monotonic() - started >= 4  # not before the episode had lasted 4 s
        for _ in range(3):  # the same episode goes on: no second event
            refused_and_flushed()
        time.sleep(2)  # anything else the worker had queued would arrive by now
    events = signed_events(receiver, subscribed)
    assert types_of(events) == ["rate_limit.sustained"]
    episode = RateLimitEpisode.objects.get(account=team)
    assert episode.announced_at is not None
    assert episode.refused >= events[0]["data"]["refused"] >= 2 * 4  # over 4 s and more
