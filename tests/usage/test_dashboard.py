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

    from usage.collector import Tally, write_stats

    tally = Tally()
    for latency_ms in [4.0] * 90 + [150.0] * 10:  # 90 calls <= 5 ms, 10 calls <= 200 ms
        tally.add(latency_ms)
    key = (team.id, "key_a", "GET /demo/hello", datetime(2026, 11, 23, 21, tzinfo=UTC), "2xx")
    write_stats({key: tally})  # as the collector writes what it read from nginx's log
    client.force_login(alice)
    page = html.unescape(client.get(url(team)).content.decode())
    assert 'data-testid="status-2xx">100<' in page
    assert "<td>GET /demo/hello</td><td>100</td><td>≤ 5 ms</td><td>≤ 200 ms</td>" in page


def test_the_previous_period_of_a_subscription_is_the_month_before_it(
    client, alice, team, live_key, redis_db
):
    import json
    import re
    from datetime import UTC, datetime

    from billing.models import Subscription
    from tests.usage.conftest import add_usage

    Subscription.objects.create(
        stripe_id="sub_1", account=team, status="active",
        started_at=datetime(2026, 9, 10, 9, tzinfo=UTC),
        current_period_start=datetime(2026, 11, 10, 9, tzinfo=UTC),
        current_period_end=datetime(2026, 12, 10, 9, tzinfo=UTC),
    )  # fmt: skip
    add_usage(team, live_key, datetime(2026, 10, 20, 12, tzinfo=UTC), 40)  # the previous period
    add_usage(team, live_key, datetime(2026, 11, 20, 12, tzinfo=UTC), 3)  # this one
    client.force_login(alice)
    charts = {}
    for name in ("period", "previous"):
        page = client.get(url(team, f"?range={name}"), HTTP_HX_REQUEST="true").content.decode()
        values = re.search(r'data-chart="requests" data-values="([^"]*)"', page).group(1)
        charts[name] = json.loads(html.unescape(values))
    assert sum(charts["period"]["ok"]) == 3
    assert sum(charts["previous"]["ok"]) == 40
    assert charts["previous"]["t"][0] == datetime(2026, 10, 10, tzinfo=UTC).timestamp()
    assert charts["previous"]["t"][-1] == datetime(2026, 11, 10, tzinfo=UTC).timestamp()
