from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.usage.conftest import add_usage

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def late_november(time_machine):
    time_machine.move_to("2026-11-23 22:30:00+00:00", tick=False)


def test_staff_see_every_account_and_who_is_near_quota(
    client, user_factory, team, pro_plan, live_key
):
    team.plan = pro_plan
    team.save()
    add_usage(team, live_key, datetime(2026, 11, 23, 21, tzinfo=UTC), 900)
    staff = user_factory(is_staff=True)
    client.force_login(staff)
    page = client.get("/staff/usage/").content.decode()
    assert "Alice&#x27;s team" in page
    assert 'data-testid="near-' + team.slug + '">90.0%<' in page


def test_customers_cannot(client, alice):
    client.force_login(alice)
    response = client.get("/staff/usage/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
