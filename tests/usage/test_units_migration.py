"""Migration 0007 keeps the previous release's usage: every call then cost one unit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("usage", "0005_overage_used_at")]
AFTER = [("usage", "0007_usage_units")]
HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_admitted_calls_of_the_previous_release_become_one_unit_each(team):
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old = executor.loader.project_state(BEFORE).apps
        common = {"account_id": team.id, "environment": "live"}
        detail = {**common, "key_id": "key_1", "product": "demo", "endpoint": "GET /hello"}
        for outcome, count in (("ok", 120), ("rate_limited", 7)):
            old.get_model("usage", "HourlyUsage").objects.create(
                **detail, hour=HOUR, outcome=outcome, count=count
            )
            old.get_model("usage", "DailyUsage").objects.create(
                **detail, day=HOUR.date(), outcome=outcome, count=count
            )
            old.get_model("usage", "UsageSummary").objects.create(
                **common, span="hour", start=HOUR, dimension="account", value="",
                outcome=outcome, count=count,
            )  # fmt: skip
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())  # every app back to its latest
    new = executor.loader.project_state(AFTER).apps
    for model in ("HourlyUsage", "DailyUsage", "UsageSummary"):
        rows = new.get_model("usage", model).objects.filter(account_id=team.id)
        assert sorted(rows.values_list("outcome", "count", "units")) == [
            ("ok", 120, 120),  # what they consumed: one unit a call
            ("rate_limited", 7, 0),  # refused calls consumed nothing
        ], model


@pytest.mark.django_db(transaction=True)
def test_the_previous_release_can_still_write_rollups_during_the_upgrade(team):
    """Its flush inserts without the new column: the database's default fills it."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO usage_hourlyusage (account_id, key_id, environment, product, endpoint,"
            " hour, outcome, count) VALUES (%s, 'k', 'live', 'demo', 'GET /x', %s, 'ok', 3)",
            [team.id, HOUR],
        )
        cursor.execute(
            "INSERT INTO gateway_uncountedcall (account_id, key_id, environment, product,"
            " endpoint_group, admitted_at) VALUES (%s, 'k', 'live', 'demo', 'GET /x', %s)",
            [team.id, HOUR],
        )
        cursor.execute("SELECT units FROM usage_hourlyusage WHERE account_id = %s", [team.id])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT units FROM gateway_uncountedcall WHERE account_id = %s", [team.id])
        assert cursor.fetchone()[0] == 1
