"""Rate limits hold in every rolling window, not only in calendar seconds and minutes.

A client that times its bursts around window edges is the attacker here: each test sends bursts
just before and just after boundaries (and in between), records when each admitted call was
decided, and checks every rolling window of the limit's length over those times.
"""

from __future__ import annotations

import pytest
import time_machine

from core.redis_keys import counter_keys
from gateway import counting
from gateway.policy import NO_LIMIT, Limits
from tests.gateway.support import ask, make_key, make_plan

pytestmark = pytest.mark.usefixtures("redis_db")

START = 1_800_000_000  # a whole minute


def most_in_any_window(times: list[float], length: float) -> int:
    """The most calls in any half-open window [t, t + length): the fullest starts at a call."""
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + length) for t in times), default=0)


def bursts(raw: str, schedule: list[tuple[float, int]]) -> tuple[list[float], list[str]]:
    """Send `count` calls at each `(when, count)`; the admitted calls' times and the reasons."""
    admitted, reasons = [], []
    for when, count in schedule:
        with time_machine.travel(when, tick=False):
            for _ in range(count):
                status, headers, _ = ask(raw)
                if status == 204:
                    admitted.append(when)
                else:
                    reasons.append(headers["X-Deny-Reason"])
    return admitted, reasons


def edges(length: float, offsets: list[float], rounds: int) -> list[float]:
    """Times at each offset (seconds, may be negative) around `rounds` window boundaries."""
    return [START + length * n + offset for n in range(1, rounds + 1) for offset in offsets]


def test_no_rolling_second_admits_more_than_the_per_second_limit(team, product):
    team.plan = make_plan("second", [product], requests_per_second=5)
    team.save()
    raw, _ = make_key(team)
    offsets = [-0.35, -0.05, -0.001, 0.0, 0.001, 0.05, 0.35, 0.65, 0.96]
    admitted, reasons = bursts(raw, [(when, 7) for when in edges(1, offsets, 6)])
    assert most_in_any_window(admitted, 1.0) == 5
    # Not vacuous: the limit is used, and the refusals are the per-second limit's.
    assert len(admitted) >= 5 * 6
    assert set(reasons) == {"rate_limited"}


def test_no_rolling_minute_admits_more_than_the_per_minute_limit(team, product):
    team.plan = make_plan("minute", [product], requests_per_minute=20)
    team.save()
    raw, _ = make_key(team)
    offsets = [-20, -3, -0.5, -0.001, 0.0, 0.5, 3, 20, 40, 59.5]
    admitted, reasons = bursts(raw, [(when, 12) for when in edges(60, offsets, 4)])
    assert most_in_any_window(admitted, 60.0) == 20
    assert len(admitted) >= 20 * 4
    assert set(reasons) == {"rate_limited"}


def test_refused_calls_at_the_limit_consume_nothing_in_the_rolling_window(team, product):
    team.plan = make_plan("second", [product], requests_per_second=3)
    team.save()
    raw, _ = make_key(team)
    # Hammering while refused does not push the calls' departure back.
    admitted, _ = bursts(raw, [(START + 0.05, 3), (START + 0.5, 50), (START + 1.0, 50)])
    assert admitted == [START + 0.05] * 3
    # The 100 ms bucket of .05 (from .0) leaves the rolling second at 1.1.
    assert bursts(raw, [(START + 1.099, 1), (START + 1.1, 4)])[0] == [START + 1.1] * 3


def test_limit_headers_tell_the_truth_of_the_rolling_window(team, product):
    team.plan = make_plan("minute", [product], requests_per_minute=4)
    team.save()
    raw, _ = make_key(team)
    answers = []
    for when in (START + 50, START + 62, START + 62, START + 62, START + 62):
        with time_machine.travel(when, tick=False):
            answers.append(ask(raw))
    remaining = [headers["RateLimit-Remaining"] for _, headers, _ in answers]
    assert [status for status, _, _ in answers] == [204] * 4 + [403]
    assert remaining == ["3", "2", "1", "0", "0"]
    # The oldest call (the 6 s bucket from 48) leaves at 48 + 66 = 114: 52 s after 62.
    assert answers[1][1]["RateLimit-Reset"] == "52"
    assert answers[4][1]["Retry-After"] == "52"
    with time_machine.travel(START + 113.999, tick=False):
        assert ask(raw)[0] == 403
    with time_machine.travel(START + 114, tick=False):
        assert ask(raw)[1]["RateLimit-Remaining"] == "0"


def count_at(account_id: int, when: float, per_second: int) -> counting.Count:
    keys = counter_keys(account_id, "live", when, 0)
    limits = Limits(per_second, NO_LIMIT, NO_LIMIT, hard_cap=True)
    return counting.check_and_count(keys, limits, "k|demo|GET /x", 3600, when)


def test_a_bucket_slot_reused_eleven_buckets_later_starts_from_zero(team):
    # Buckets are 100 ms: calls in buckets 0, 5, 11 (slot of 0), 16 (of 5), 17, 40.
    seen = [count_at(team.pk, START + offset, 100).second.used
            for offset in (0.0, 0.0, 0.5, 1.1, 1.65, 1.7, 1.7, 4.0)]  # fmt: skip
    # 1.1: the two calls of bucket 0 have left; 1.65: the call of bucket 5 too; 4.0: all.
    assert seen == [1, 2, 3, 2, 2, 3, 4, 1]


def test_a_host_whose_clock_runs_behind_counts_at_the_newest_bucket(team):
    assert [count_at(team.pk, START + 5.0, 2).admitted for _ in range(2)] == [True, True]
    late = count_at(team.pk, START + 4.5, 2)  # half a second behind: the same window is full
    assert (late.admitted, late.second.used) == (False, 2)
    assert count_at(team.pk, START + 6.1, 2).admitted
