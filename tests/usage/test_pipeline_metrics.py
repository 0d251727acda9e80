"""The usage pipeline's metrics: flush lag and backlog, collector lag."""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from tests.usage.test_collector import entry, write
from tests.usage.test_flush import count
from usage.collector import collect_once
from usage.tasks import flush_counters


def sample(name: str) -> float | None:
    return REGISTRY.get_sample_value(name)


@pytest.mark.django_db(transaction=True)
def test_a_flush_reports_its_backlog_and_when_it_finished(redis_db, team):
    count(redis_db, team.id, 3)
    count(redis_db, team.id, 2, hour="2026112323")
    before = time.time()
    flush_counters()
    assert sample("tollgate_usage_flush_backlog_batches") == 2
    assert sample("tollgate_usage_flush_last_success_timestamp_seconds") >= before
    flush_counters()
    assert sample("tollgate_usage_flush_backlog_batches") == 0


@pytest.mark.django_db
def test_the_collector_reports_the_bytes_it_has_not_read(tmp_path, team):
    log = tmp_path / "access.log"
    write(log, entry(team), entry(team))
    half_written = '{"time":"2026-11-23T22:05:00+00:00","consumer"'
    write(log, half_written, end="")
    assert collect_once(log) == 2
    assert sample("tollgate_collector_lag_bytes") == len(half_written)
