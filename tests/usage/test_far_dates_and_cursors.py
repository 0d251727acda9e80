"""Dates past the calendar's end and cursors no API page gave out are field errors (a 400 page
or the API's `invalid`), never an export that breaks mid-stream or a 500."""

from __future__ import annotations

import base64
import json

import pytest

pytestmark = pytest.mark.django_db

FAR = [
    {"start": "9999-12-31", "end": "9999-12-31", "by": "hour"},
    {"start": "9999-12-30", "end": "9999-12-31", "by": "day"},
    {"start": "2026-11-01", "end": "3000-01-01", "by": "day"},
]


@pytest.mark.parametrize("query", FAR)
def test_the_export_refuses_dates_past_the_bound(client, alice, team, query):
    client.force_login(alice)

    response = client.get(f"/a/{team.slug}/usage/export.csv", query)

    assert response.status_code == 400
    assert "Choose a date on or before 2999-12-31." in response.content.decode()


@pytest.mark.parametrize("query", FAR)
def test_the_api_refuses_dates_past_the_bound(client, alice, team, query):
    client.force_login(alice)

    response = client.get("/api/v1/usage/", {"account": team.slug, **query})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"]["end"] == ["Choose a date on or before 2999-12-31."]


def test_the_last_allowed_day_still_exports(client, alice, team):
    client.force_login(alice)
    query = {"start": "2999-12-31", "end": "2999-12-31", "by": "hour"}

    response = client.get(f"/a/{team.slug}/usage/export.csv", query)

    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"start,")


def cursor(*parts: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(parts)).encode()).decode()


@pytest.mark.parametrize(
    "parts",
    [
        ("day", "2026-11-01", "key_x", "p\x00", "GET /", "ok"),
        ("day", "2026-11-01\x00", "key_x", "p", "GET /", "ok"),
        ("day", "2026-11-01", "k" * 5000, "p", "GET /", "ok"),
        ("day", "2026-11-01", 1, "p", "GET /", "ok"),
        ("day", "2026-11-01", ["key_x"], "p", "GET /", "ok"),
        ("hour", "2026-11-01T00:00:00", "key_x", "p", "GET /", "ok"),
    ],
    ids=["nul-in-product", "nul-in-stamp", "overlong-key", "number", "list", "naive-hour"],
)
def test_a_cursor_with_parts_no_page_gave_out_is_refused(client, alice, team, parts):
    client.force_login(alice)
    query = {"account": team.slug, "start": "2026-11-01", "end": "2026-11-30", "by": parts[0]}

    response = client.get("/api/v1/usage/", {**query, "cursor": cursor(*parts)})

    assert response.status_code == 400
    assert response.json()["errors"] == {"cursor": ["Not a cursor this API gave out."]}
