from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_it_returns_the_same_rows_as_the_csv(client, alice, team, some_usage):
    client.force_login(alice)
    response = client.get(
        "/api/v1/usage/", {"account": team.slug, "start": "2026-11-01", "end": "2026-11-30"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["by"] == "day" and body["next_offset"] is None
    assert sum(row["count"] for row in body["results"]) == 855
    csv_body = b"".join(
        client.get(
            f"/a/{team.slug}/usage/export.csv?start=2026-11-01&end=2026-11-30&by=day"
        ).streaming_content
    ).decode()
    assert len(csv_body.strip().splitlines()) == len(body["results"]) + 1


def test_it_pages(client, alice, team, some_usage):
    client.force_login(alice)
    query = {"account": team.slug, "start": "2026-11-01", "end": "2026-11-30", "by": "hour"}
    first = client.get("/api/v1/usage/", {**query, "limit": 2}).json()
    assert len(first["results"]) == 2 and first["next_offset"] == 2
    rest = client.get("/api/v1/usage/", {**query, "limit": 2, "offset": 2}).json()
    assert len(rest["results"]) == 2 and rest["next_offset"] is None


def test_an_offset_past_64_bits_is_refused_with_a_stable_code(client, alice, team, some_usage):
    client.force_login(alice)
    query = {"account": team.slug, "start": "2026-11-01", "end": "2026-11-30"}
    response = client.get("/api/v1/usage/", {**query, "offset": str(10**22)})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "offset" in response.json()["errors"]


def test_cursors_page_through_the_same_rows_as_one_page(client, alice, team, live_key):
    from datetime import UTC, datetime

    from tests.usage.conftest import add_usage

    for hour in (20, 21, 22):
        for endpoint in ("GET /demo/hello", "POST /demo/echo"):
            add_usage(
                team, live_key, datetime(2026, 11, 23, hour, tzinfo=UTC), hour, "ok", endpoint
            )
            add_usage(team, live_key, datetime(2026, 11, 23, hour, tzinfo=UTC), 1, "rate_limited",
                      endpoint)  # fmt: skip
    client.force_login(alice)
    query = {"account": team.slug, "start": "2026-11-23", "end": "2026-11-23", "by": "hour"}
    everything = client.get("/api/v1/usage/", query).json()["results"]
    assert len(everything) == 12
    pages, cursor = [], None
    while True:
        page = client.get(
            "/api/v1/usage/", {**query, "limit": 5, **({"cursor": cursor} if cursor else {})}
        ).json()
        pages += page["results"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == everything


def test_a_bad_cursor_gets_a_stable_code(client, alice, team, some_usage):
    client.force_login(alice)
    query = {"account": team.slug, "start": "2026-11-01", "end": "2026-11-30", "by": "hour"}
    response = client.get("/api/v1/usage/", {**query, "cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and "cursor" in response.json()["errors"]


def test_a_cursor_of_another_granularity_is_refused(client, alice, team, some_usage):
    client.force_login(alice)
    query = {"account": team.slug, "start": "2026-11-01", "end": "2026-11-30", "limit": 1}
    cursor = client.get("/api/v1/usage/", {**query, "by": "hour"}).json()["next_cursor"]
    response = client.get("/api/v1/usage/", {**query, "by": "day", "cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()["errors"]
    both = client.get("/api/v1/usage/", {**query, "by": "hour", "cursor": cursor, "offset": 2})
    assert both.status_code == 400 and "offset" in both.json()["errors"]


def test_bad_queries_get_a_stable_code(client, alice, team):
    client.force_login(alice)
    response = client.get(
        "/api/v1/usage/", {"account": team.slug, "start": "soon", "end": "2026-11-01"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "start" in body["errors"]
    reversed_range = {"account": team.slug, "start": "2026-11-02", "end": "2026-11-01"}
    assert client.get("/api/v1/usage/", reversed_range).json()["errors"]["end"]


def test_an_outsider_gets_404(client, charlie, team):
    client.force_login(charlie)
    query = {"account": team.slug, "start": "2026-11-01", "end": "2026-11-02"}
    response = client.get("/api/v1/usage/", query)
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such account"}
    assert client.get(f"/api/v1/usage/{team.slug}/glance/").status_code == 404


def test_a_billing_member_gets_403(client, user_factory, team):
    person = user_factory()
    Membership.objects.create(account=team, user=person, role=Role.BILLING)
    client.force_login(person)
    response = client.get(f"/api/v1/usage/{team.slug}/glance/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_visitors_are_not_authenticated(client, team):
    response = client.get(f"/api/v1/usage/{team.slug}/glance/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "not_authenticated"


def test_the_glance_matches_the_dashboard(
    client, alice, team, pro_plan, some_usage, redis_db, time_machine
):
    time_machine.move_to("2026-11-23 22:30:00+00:00", tick=False)
    team.plan = pro_plan
    team.save()
    client.force_login(alice)
    body = client.get(f"/api/v1/usage/{team.slug}/glance/").json()
    assert body["used"] == 850 and body["quota"] == 1000 and body["percent"] == 85.0
    assert body["currency"] == "USD"
