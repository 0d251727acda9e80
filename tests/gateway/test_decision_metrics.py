"""Every decision is counted by outcome and reason, and timed, for Prometheus."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

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
