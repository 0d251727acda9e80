"""Every decision is counted by outcome and reason, and timed, for Prometheus."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from portal.metrics import DECISION_BUCKETS, DECISION_SECONDS, Tally
from tests.gateway.support import ask, make_key

pytestmark = pytest.mark.usefixtures("redis_db", "free_plan")


def decisions(outcome: str, reason: str) -> float:
    labels = {"outcome": outcome, "reason": reason}
    return REGISTRY.get_sample_value("tollgate_decisions_total", labels) or 0.0


def timed() -> float:
    return REGISTRY.get_sample_value("tollgate_decision_seconds_count") or 0.0


def test_admissions_and_refusals_are_counted_by_reason(team):
    raw, _ = make_key(team)
    before = {
        "ok": decisions("admitted", "ok"),
        "missing": decisions("refused", "missing_key"),
        "quota": decisions("refused", "quota_exceeded"),
        "timed": timed(),
    }
    for _ in range(6):  # the free plan's quota is 5
        ask(raw)
    ask(None)
    assert decisions("admitted", "ok") - before["ok"] == 5
    assert decisions("refused", "quota_exceeded") - before["quota"] == 1
    assert decisions("refused", "missing_key") - before["missing"] == 1
    assert timed() - before["timed"] == 7


def test_a_call_without_the_gateway_secret_is_not_a_decision(team):
    before = timed()
    assert ask(None, secret="wrong")[0] == 404
    assert timed() == before


def test_a_tally_adds_what_observing_each_decision_would_have():
    """The auth server tallies decisions on its loop and adds them every 100 ms
    (portal.metrics.Tally): the metrics must read as if each had been observed."""
    durations = [0.00005, 0.0001, 0.00011, 0.0003, 0.0003, 0.5, 0.7, 3.0]  # bounds, +Inf
    reference = Histogram("reference", "", buckets=DECISION_BUCKETS, registry=CollectorRegistry())
    for seconds in durations:
        reference.observe(seconds)
    before_buckets, before_ok = buckets(DECISION_SECONDS), decisions("admitted", "ok")
    before_sum = REGISTRY.get_sample_value("tollgate_decision_seconds_sum")
    tally = Tally()
    for seconds in durations:
        tally.add("admitted", "ok", seconds)
    assert buckets(DECISION_SECONDS) == before_buckets  # nothing until the flush
    tally.flush()
    added = [after - b for after, b in zip(buckets(DECISION_SECONDS), before_buckets, strict=True)]
    assert added == buckets(reference)
    assert decisions("admitted", "ok") - before_ok == len(durations)
    summed = REGISTRY.get_sample_value("tollgate_decision_seconds_sum") - before_sum
    assert summed == pytest.approx(sum(durations))
    tally.flush()  # flushed once: a second flush adds nothing
    assert decisions("admitted", "ok") - before_ok == len(durations)


def buckets(histogram: Histogram) -> list[float]:
    """Cumulative counts per bucket, as exported (le=...)."""
    [metric] = histogram.collect()
    return [s.value for s in metric.samples if s.name.endswith("_bucket")]
