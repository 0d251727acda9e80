from __future__ import annotations

import csv
import io

import pytest

pytestmark = pytest.mark.django_db


def export(client, team, query):
    response = client.get(f"/a/{team.slug}/usage/export.csv?{query}")
    return response, b"".join(response.streaming_content).decode() if response.streaming else ""


def test_it_exports_by_day(client, alice, team, some_usage):
    client.force_login(alice)
    response, body = export(client, team, "start=2026-11-01&end=2026-11-30&by=day")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert sum(int(r["count"]) for r in rows) == 855
    assert {r["start"] for r in rows} == {"2026-11-02", "2026-11-23"}
    assert rows[0]["key_name"].startswith("Production (tg_live_")


def test_it_exports_by_hour(client, alice, team, some_usage):
    client.force_login(alice)
    _, body = export(client, team, "start=2026-11-23&end=2026-11-23&by=hour")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["start"], r["endpoint"], r["outcome"], r["count"]) for r in rows] == [
        ("2026-11-23T20:00:00+00:00", "GET /demo/hello", "ok", "120"),
        ("2026-11-23T21:00:00+00:00", "GET /demo/hello", "rate_limited", "5"),
        ("2026-11-23T21:00:00+00:00", "POST /demo/echo", "ok", "30"),
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "start=2026-11-23&end=2026-11-01&by=day",
            "The end date must be on or after the start date.",
        ),
        ("start=yesterday&end=2026-11-01&by=day", "Enter a valid date."),
        ("start=2026-11-01&end=2026-11-02&by=minute", "Select a valid choice."),
    ],
)
def test_a_bad_range_gets_a_clear_page(client, alice, team, query, message):
    client.force_login(alice)
    response = client.get(f"/a/{team.slug}/usage/export.csv?{query}")
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
