"""Leased allowance (gateway/leasing.py) on a real uvloop loop, a real pipeline and a real Redis.

Decisions run as the auth server runs them (gateway/worker.py): each in a decision greenlet of
the process's pipeline, at times the test chooses; ``tick`` closes leases as the server's timer
does when a bucket ends. What Redis holds after the last tick is compared with what was admitted.
"""

from __future__ import annotations

import asyncio
import collections
from decimal import Decimal
from functools import partial

import pytest
import time_machine
import uvloop
from prometheus_client import REGISTRY

from apikeys import records
from core.redis_keys import account_tag, live_hours_key
from gateway import decide, invalidation, leasing, pipelining, tallying
from gateway.decide import Call
from gateway.policy import NO_LIMIT, Limits
from portal.redis_client import get_redis
from tests.gateway.support import make_key, make_plan, make_product
from tests.gateway.test_rolling_windows import most_in_any_window

pytestmark = pytest.mark.usefixtures("redis_db")

START = 1_800_000_000  # a whole minute
BUCKET = leasing.TERM_MS_PER_SECOND_LIMIT / 1000  # a lease's term under a per-second limit
TERM = leasing.TERM_MS / 1000  # ... and otherwise


class LoopGateway:
    """An auth process's loop, pipeline and leases, driven a burst at a time."""

    def __init__(self, cap=200):
        self.loop = uvloop.new_event_loop()
        kwargs = dict(get_redis().connection_pool.connection_kwargs)
        self.pipeline = pipelining.Pipeline(self.loop, kwargs)
        self.leases = leasing.Leases(self.pipeline, cap)
        self.tallies = tallying.Tallies(self.pipeline)
        leasing.active, tallying.active = self.leases, self.tallies

    def burst(self, now: float, calls: list[Call]) -> list[decide.Decision]:
        """Start every call in one loop iteration, as nginx's calls arriving together."""

        async def run() -> list[decide.Decision]:
            done = self.loop.create_future()
            results: dict[int, decide.Decision] = {}

            def answered(result: decide.Decision, index: int) -> None:
                results[index] = result
                if len(results) == len(calls):
                    done.set_result(None)

            for index, call in enumerate(calls):
                greenlet = self.pipeline.decision()
                greenlet.start(partial(decide.decide, call, now), partial(answered, index=index))
            await asyncio.wait_for(done, 5)
            return [results[i] for i in range(len(calls))]

        with time_machine.travel(now, tick=False):
            return self.loop.run_until_complete(run())

    def tick(self, now: float) -> None:
        """The server's timer at `now`; waits until Redis has applied every release."""

        async def settle() -> None:
            while not (self.leases.settled and self.tallies.settled):
                await asyncio.sleep(0.002)
                self.leases.tick(now)
                self.tallies.flush()

        self.leases.tick(now)
        self.tallies.flush()
        self.loop.run_until_complete(asyncio.wait_for(settle(), 5))

    def close(self) -> None:
        leasing.active = tallying.active = None
        self.loop.close()


@pytest.fixture
def gateway():
    running = LoopGateway()
    yield running
    running.close()


def call(raw: str, path: str = "/demo/hello") -> Call:
    return Call(raw_key=raw, method="GET", path=path, client_ip="10.0.0.1", routed_product="demo")


def warm(raws: list[str], now: float) -> None:
    """Load keys, policy and catalog into the caches (the loop's thread may not ask the
    database), then forget what that counted."""
    for listener in (records.listener, invalidation.listener):
        listener.ensure_running()  # connected, so what is cached stays for its whole TTL
        assert listener.wait_until_connected(5)
    with time_machine.travel(now, tick=False):
        for raw in raws:
            decide.decide(call(raw), now)
    get_redis().flushdb()


def metered(product):
    """A plan whose calls are all admitted but counted against a quota (beyond it, billed as
    overage): leased when busy. Without any limit they would be tallied (gateway/tallying.py)."""
    return make_plan("metered", [product], requests_per_period=1_000_000,
                     overage_price_per_1000=Decimal("0.50"))  # fmt: skip


def account_usage(account_id):
    """Every usage field of the account's unclaimed hashes, summed."""
    redis = get_redis()
    total = collections.Counter()
    for name in redis.smembers(live_hours_key(account_id)):
        for field, count in redis.hgetall(name).items():
            total[field.decode()] += int(count)
    return total


def quota_count(account_id):
    redis = get_redis()
    return sum(int(redis.get(k)) for k in redis.scan_iter(f"{account_tag(account_id)}:quota:*"))


def run_terms(gateway: LoopGateway, raws: list[str], terms: int, bursts: int, size: int,
              term: float = TERM) -> list[tuple[float, decide.Decision]]:  # fmt: skip
    """`bursts` bursts of `size` calls in each of `terms` lease terms, keys taken in turn; the
    timer ticks as each term ends."""
    decided, turn = [], 0
    for t in range(terms):
        for n in range(bursts):
            now = START + t * term + (n + 1) * term / (bursts + 1)
            batch = [call(raws[(turn + i) % len(raws)]) for i in range(size)]
            turn += size
            decided += [(now, d) for d in gateway.burst(now, batch)]
        gateway.tick(START + (t + 1) * term + 0.001)
    # Terms of a plan without rate windows start at an offset by account: one more term later
    # every lease is closed.
    gateway.tick(START + (terms + 1) * term + 0.001)
    return decided


def test_a_busy_account_spends_leases_without_redis_and_every_call_is_counted_once(
    gateway, team, product
):
    team.plan = metered(product)
    team.save()
    made = [make_key(team) for _ in range(3)]
    raws = [raw for raw, _ in made]
    warm(raws, START)
    metric_before = REGISTRY.get_sample_value("tollgate_leased_calls_total") or 0.0
    decided = run_terms(gateway, raws, terms=5, bursts=10, size=4)

    assert all(d.status == 204 for _, d in decided)
    # Most calls never reached Redis: the first term shows the pace, later ones lease.
    assert gateway.leases.spent > len(decided) // 2
    assert gateway.pipeline.commands < len(decided) // 2
    # The operator sees them: tollgate_leased_calls_total, and no release left waiting.
    metric = REGISTRY.get_sample_value("tollgate_leased_calls_total") or 0.0
    assert metric - metric_before == gateway.leases.spent
    assert REGISTRY.get_sample_value("tollgate_lease_releases_waiting") == 0
    # Every call counted once: in the quota, and by key in the usage hash.
    assert quota_count(team.pk) == len(decided) == 200
    usage = account_usage(team.pk)
    by_key = collections.Counter(d.headers[1][1] for _, d in decided)  # X-Key-Id
    assert {f.split("|")[0]: n for f, n in usage.items()} == dict(by_key)
    assert all(f.endswith("|ok") for f in usage)


def test_a_quiet_account_is_decided_call_by_call(gateway, team, product):
    team.plan = metered(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    run_terms(gateway, [raw], terms=10, bursts=1, size=1)  # one call a term
    assert gateway.leases.leased == 0
    assert quota_count(team.pk) == 10


def test_leases_never_admit_more_than_the_limit_in_any_rolling_second(gateway, team, product):
    team.plan = make_plan("second", [product], requests_per_second=40)
    team.save()
    raws = [make_key(team)[0] for _ in range(2)]
    warm(raws, START)
    # Bursts in every bucket of three seconds, more than the limit allows: leases are taken
    # early in each second and spent up to its edge, then the next second's calls meet them.
    decided = run_terms(gateway, raws, terms=30, bursts=4, size=6, term=BUCKET)
    admitted = [when for when, d in decided if d.status == 204]
    assert gateway.leases.leased > 0  # not vacuous: calls were admitted on leases
    assert most_in_any_window(admitted, 1.0) == 40
    assert len(admitted) >= 40 * 2


def test_leases_never_admit_more_than_the_limit_in_any_rolling_minute(gateway, team, product):
    team.plan = make_plan("minute", [product], requests_per_minute=300)
    team.save()
    raws = [make_key(team)[0] for _ in range(2)]
    warm(raws, START)
    # Leases of a second each (no per-second limit), in bursts over three minutes: the calls
    # bunch up where one minute's calls leave the window and the next ones meet the limit.
    decided = run_terms(gateway, raws, terms=180, bursts=3, size=4)
    admitted = [when for when, d in decided if d.status == 204]
    assert gateway.leases.leased > 0
    assert most_in_any_window(admitted, 60.0) == 300
    assert len(admitted) >= 300 * 2


def test_what_a_lease_did_not_spend_goes_back_to_every_window_and_the_quota(gateway, team, product):
    team.plan = make_plan("both", [product], requests_per_second=1000, requests_per_minute=9000)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    decided = run_terms(gateway, [raw], terms=8, bursts=3, size=4, term=BUCKET)
    assert gateway.leases.leased > gateway.leases.spent > 0  # leases with calls left over
    redis = get_redis()
    second, minute = (
        redis.hgetall(f"{account_tag(team.pk)}:rl:live:{w}") for w in ("s", "m")
    )  # fmt: skip
    in_window = [int(v) for f, v in second.items() if f != b"at"]
    assert sum(in_window) == len(decided) == 96  # 8 buckets of 12 calls, all in the ring
    assert in_window == [12] * 8
    assert sum(int(v) for f, v in minute.items() if f != b"at") == 96
    assert quota_count(team.pk) == 96


def test_a_lease_is_never_spent_after_its_term_even_when_the_timer_is_late(gateway, team, product):
    team.plan = make_plan("second", [product], requests_per_second=400)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    run_terms(gateway, [raw], terms=2, bursts=3, size=4, term=BUCKET)
    for n in range(3):  # a third bucket's lease, left with calls...
        gateway.burst(START + 2 * BUCKET + 0.01 + n * 0.01, [call(raw)] * 4)
    holding = gateway.leases.holding(team.pk, "live")
    assert holding.left > 0
    sent = gateway.pipeline.commands
    # ...and no tick: the next bucket's call is counted in Redis, not on the old lease (it was
    # counted in a bucket that leaves the rolling second before this call does).
    (decision,) = gateway.burst(START + 3 * BUCKET + 0.01, [call(raw)])
    assert decision.status == 204
    assert gateway.pipeline.commands > sent
    gateway.tick(START + 4 * BUCKET + 0.001)
    assert quota_count(team.pk) == 2 * 12 + 12 + 1


def test_rate_limit_headers_count_the_calls_made_not_the_calls_leased(gateway, team, product):
    team.plan = make_plan("minute", [product], requests_per_minute=1000)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    remaining = []
    for t in range(3):
        for n in range(10):  # one call at a time: after the first term, most on a lease
            now = START + t * TERM + 0.01 + n * 0.05
            (d,) = gateway.burst(now, [call(raw)])
            remaining.append(int(dict(d.headers)["RateLimit-Remaining"]))
        gateway.tick(START + (t + 1) * TERM + 0.001)
    assert gateway.leases.spent > 0
    assert remaining == list(range(999, 999 - 30, -1))


def test_a_hard_cap_near_its_end_is_decided_call_by_call_and_admits_exactly_the_quota(
    gateway, team, product
):
    team.plan = make_plan("capped", [product], requests_per_period=1500)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    decided = run_terms(gateway, [raw], terms=20, bursts=10, size=10)
    statuses = collections.Counter(d.status for _, d in decided)
    assert statuses == {204: 1500, 403: 500}
    assert gateway.leases.leased > 0  # while 1,000 units or more were left
    assert quota_count(team.pk) == 1500
    usage = account_usage(team.pk)
    assert sum(n for f, n in usage.items() if f.endswith("|ok")) == 1500
    assert sum(n for f, n in usage.items() if f.endswith("|quota_exceeded")) == 500


@pytest.mark.parametrize(
    "operation",
    [{"method": "GET", "path": "/heavy", "cost": 3},
     {"method": "GET", "path": "/heavy", "requests_per_minute": 900}],
    ids=["weighted", "with limits of its own"],
)  # fmt: skip
def test_calls_leases_cannot_account_for_are_decided_call_by_call(gateway, team, operation):
    spec = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
            "paths": {"/heavy": {"get": {}}}}  # fmt: skip
    product = make_product(openapi_spec=spec, operations=[operation])
    team.plan = metered(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    for t in range(5):
        for n in range(4):
            now = START + t * TERM + 0.01 + n * 0.001
            decided = gateway.burst(now, [call(raw, "/demo/heavy")] * 3)
            assert all(d.status == 204 for d in decided)
        gateway.tick(START + (t + 1) * TERM + 0.001)
    assert gateway.leases.leased == 0
    assert gateway.pipeline.commands >= 60  # each call its own script


def test_a_release_sent_twice_is_applied_once(gateway, team, product):
    team.plan = metered(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    run_terms(gateway, [raw], terms=2, bursts=4, size=3)
    for n in range(4):  # a third term whose lease is closed by hand, as the timer would
        gateway.burst(START + 2 * TERM + 0.01 + n * 0.001, [call(raw)] * 3)
    gateway.leases.tick(START + 3 * TERM + 0.001)
    (release,) = gateway.leases.releases.unapplied.values()
    assert release.unspent and release.usage
    gateway.tick(START + 3 * TERM + 0.001)
    before = (quota_count(team.pk), account_usage(team.pk))
    assert before[0] == sum(before[1].values()) == 36
    # A reply lost on the way back: the same release goes again, and changes nothing.
    gateway.leases.releases.unapplied[release.name] = release
    gateway.tick(START + 10)
    assert (quota_count(team.pk), account_usage(team.pk)) == before


def test_a_release_after_redis_forgot_its_script_is_sent_with_the_text(gateway, team, product):
    team.plan = metered(product)
    team.save()
    raw, _ = make_key(team)
    warm([raw], START)
    run_terms(gateway, [raw], terms=1, bursts=4, size=3)
    for n in range(4):  # a lease spent in the second term...
        gateway.burst(START + TERM + 0.01 + n * 0.001, [call(raw)] * 3)
    assert gateway.leases.open
    get_redis().script_flush()  # ...then Redis restarts before the release
    gateway.tick(START + 2 * TERM + 0.001)
    assert quota_count(team.pk) == 24
    assert sum(account_usage(team.pk).values()) == 24


def test_a_term_lies_in_one_bucket_of_every_window_and_only_windowless_terms_are_spread():
    per_second = Limits(5, 100, -1, hard_cap=False)
    per_minute = Limits(NO_LIMIT, 100, 1000, hard_cap=True)
    windowless = Limits(NO_LIMIT, NO_LIMIT, 1000, hard_cap=False)
    assert {leasing.term_of(per_second, a) for a in range(20)} == {(100, 0)}
    assert {leasing.term_of(per_minute, a) for a in range(20)} == {(1000, 0)}
    assert 6000 % leasing.TERM_MS == 0  # so a one-second term never straddles a 6 s bucket
    # Without windows, ten different starts: the accounts' leases close in different ticks.
    assert {leasing.term_of(windowless, a)[1] for a in range(20)} == set(range(0, 1000, 100))
