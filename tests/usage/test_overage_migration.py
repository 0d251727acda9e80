"""Migration 0005 gives overage rows queued by the previous release their meter timestamp."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("usage", "0004_logcursor_host")]
AFTER = [("usage", "0005_overage_used_at")]


@pytest.mark.django_db(transaction=True)
def test_queued_rows_get_their_creation_time_as_the_meter_timestamp(team):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old_apps = executor.loader.project_state(BEFORE).apps
        queued_at = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
        Row = old_apps.get_model("usage", "OverageToReport")
        row = Row.objects.create(
            batch_id="old-batch", account_id=team.id, quantity=42,
            period_start=datetime(2026, 11, 1, tzinfo=UTC),
        )  # fmt: skip
        Row.objects.filter(pk=row.pk).update(created_at=queued_at)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())  # every app back to its latest
    new_apps = executor.loader.project_state(AFTER).apps
    migrated = new_apps.get_model("usage", "OverageToReport").objects.get(batch_id="old-batch")
    assert (migrated.used_at, migrated.quantity) == (queued_at, 42)
