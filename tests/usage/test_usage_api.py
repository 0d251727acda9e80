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


def test_bad_queries_get_a_stable_code(client, alice, team):
    client.force_login(alice)
    response = client.get(
        "/api/v1/usage/", {"account": team.slug, "start": "soon", "end": "2026-11-01"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and "start" in body["fields"]
    reversed_range = {"account": team.slug, "start": "2026-11-02", "end": "2026-11-01"}
    assert client.get("/api/v1/usage/", reversed_range).json()["fields"]["end"]


def test_an_outsider_gets_404(client, charlie, team):
    client.force_login(charlie)
    query = {"account": team.slug, "start": "2026-11-01", "end": "2026-11-02"}
    response = client.get("/api/v1/usage/", query)
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "No such account"}
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
    assert response.status_code == 403
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
