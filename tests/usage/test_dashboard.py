from __future__ import annotations

import html

import pytest

from accounts.models import Membership
from accounts.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def late_november(time_machine):
    time_machine.move_to("2026-11-23 22:30:00+00:00", tick=False)


def url(team, suffix=""):
    return f"/a/{team.slug}/usage/{suffix}"


def test_it_shows_the_period_at_a_glance(client, alice, team, pro_plan, some_usage, redis_db):
    team.plan = pro_plan
    team.save()
    client.force_login(alice)
    response = client.get(url(team))
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert 'data-testid="period-used">850<' in page  # 120 + 30 + 700 admitted this month
    assert "of 1,000 included (85.0%)" in page
    assert "Projected bill" in page and "USD" in page
    assert 'data-testid="denied-rate_limited">5<' in page
    assert 'data-chart="requests" data-values="{"t": [' in page


def test_the_counters_refresh_as_a_partial(client, alice, team, some_usage, redis_db):
    client.force_login(alice)
    response = client.get(url(team, "?partial=counters"), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="usage-counters"')
    assert "<html" not in page


def test_switching_the_range_swaps_only_the_report(client, alice, team, some_usage, redis_db):
    client.force_login(alice)
    page = client.get(url(team, "?range=30d"), HTTP_HX_REQUEST="true").content.decode()
    assert page.lstrip().startswith('<div id="usage-report">')
    assert "Last 30 days" in page


def test_a_developer_can_see_it(client, bob, team, some_usage, redis_db):
    client.force_login(bob)
    assert client.get(url(team)).status_code == 200


def test_a_billing_member_is_told_they_cannot(client, user_factory, team, redis_db):
    person = user_factory()
    Membership.objects.create(account=team, user=person, role=Role.BILLING)
    client.force_login(person)
    assert client.get(url(team)).status_code == 403


def test_an_outsider_gets_404_everywhere(client, charlie, team, redis_db):
    client.force_login(charlie)
    for suffix in ["", "export.csv?start=2026-11-01&end=2026-11-23&by=day", "alerts/"]:
        assert client.get(url(team, suffix)).status_code == 404


def test_visitors_are_sent_to_log_in(client, team):
    response = client.get(url(team))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_shows_status_classes_and_latency(client, alice, team, redis_db):
    from datetime import UTC, datetime

    from usage.models import EndpointHourStats

    histogram = [0] * 13
    histogram[2], histogram[7] = 90, 10  # 90 calls <= 5 ms, 10 calls <= 200 ms
    EndpointHourStats.objects.create(
        account=team, key_id="key_a", endpoint="GET /demo/hello", status_class="2xx",
        hour=datetime(2026, 11, 23, 21, tzinfo=UTC), count=100, latency_histogram=histogram,
    )  # fmt: skip
    client.force_login(alice)
    page = html.unescape(client.get(url(team)).content.decode())
    assert 'data-testid="status-2xx">100<' in page
    assert "<td>GET /demo/hello</td><td>100</td><td>≤ 5 ms</td><td>≤ 200 ms</td>" in page
