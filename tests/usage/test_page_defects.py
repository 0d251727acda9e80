"""The usage page's reported defects, each pinned: the projection early in a period, the quota
chart's points after a renewal, and (in Chromium) the range tabs, the by-key table at 1280 px
and the quota chart's axis."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.models import Subscription
from tests.usage.conftest import add_usage
from usage import reports


def url(account) -> str:
    return f"/a/{account.slug}/usage/"


@pytest.mark.django_db
def test_it_projects_only_after_a_day_of_the_period(
    client, alice, team, pro_plan, live_key, redis_db, time_machine
):
    pro_plan.refresh_from_db()  # prices as Decimals, as any page reads them
    team.plan = pro_plan
    team.save()
    add_usage(team, live_key, datetime(2026, 11, 1, 0, tzinfo=UTC), 1)
    client.force_login(alice)

    time_machine.move_to("2026-11-01 00:30:00+00:00", tick=False)  # 1 call, half an hour in
    early = reports.glance(team, timezone.now())
    assert (early.projection_ready, early.projected, early.projected_bill) == (False, 1, 29)
    page = html.unescape(client.get(url(team)).content.decode())
    assert 'data-testid="projected">Not yet<' in page
    assert "A projection needs a day of the period: from Nov 2, 00:00 UTC." in page
    assert client.get(f"/api/v1/usage/{team.slug}/glance/").json()["projection_ready"] is False

    time_machine.move_to("2026-11-03 00:00:00+00:00", tick=False)  # two days: 15 a month
    later = reports.glance(team, timezone.now())
    assert (later.projection_ready, later.projected) == (True, 15)
    assert 'data-testid="projected">15<' in client.get(url(team)).content.decode()


@pytest.mark.django_db
def test_the_quota_chart_stays_inside_the_renewed_period(
    team, pro_plan, live_key, redis_db, time_machine
):
    time_machine.move_to("2026-11-20 12:00:00+00:00", tick=False)
    now = timezone.now()
    start = datetime(2026, 11, 18, 10, 45, tzinfo=UTC)  # renewed at 10:45 two days ago
    Subscription.objects.create(
        stripe_id="sub_renewed", account=team, plan=pro_plan, status="active",
        started_at=start - timedelta(days=60), current_period_start=start,
        current_period_end=start + timedelta(days=30),
    )  # fmt: skip
    add_usage(team, live_key, datetime(2026, 11, 18, 10, tzinfo=UTC), 100)  # the renewal hour
    add_usage(team, live_key, datetime(2026, 11, 19, 9, tzinfo=UTC), 50)
    period = reports.window_for("period", team, now)
    points = reports.burn_down(team, period, 1000, now)
    assert [datetime.fromtimestamp(t, UTC) for t in points["t"]] == [
        start,
        datetime(2026, 11, 19, tzinfo=UTC),
        datetime(2026, 11, 20, tzinfo=UTC),
        now,
    ]
    assert points["left"] == [1000, 900, 850, 850]

    # A period that has not started yet (a renewal ahead of this clock): no points at all.
    before = reports.burn_down(team, period, 1000, start - timedelta(hours=1))
    assert before == {"t": [], "left": []}


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_tabs_table_and_quota_axis_in_the_browser(
    signed_in_page, live_server, alice, team, pro_plan, live_key, redis_db
):
    team.plan = pro_plan
    team.save()
    live_key.name = "A production key with a rather long descriptive name for the billing job"
    live_key.save()
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    add_usage(team, live_key, hour, 1234567)
    add_usage(team, live_key, hour, 7654321, outcome="forbidden")
    page = signed_in_page(alice)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}{url(team)}")
    page.wait_for_selector("[data-chart=burn-down][data-drawn=true] canvas")

    # The quota chart's axis is the billing period, not uPlot's default around a lone point.
    chart = page.locator("[data-chart=burn-down]")
    x_range = chart.evaluate("e => [e.uplot.scales.x.min, e.uplot.scales.x.max]")
    assert x_range == [int(chart.get_attribute("data-period-start")),
                       int(chart.get_attribute("data-period-end"))]  # fmt: skip

    # So is the requests chart's: the range shown, even with a single hour of calls.
    chart = page.locator("[data-chart=requests]")
    x_range = chart.evaluate("e => [e.uplot.scales.x.min, e.uplot.scales.x.max]")
    assert x_range == [int(chart.get_attribute("data-start")),
                       int(chart.get_attribute("data-end"))]  # fmt: skip

    # Every column of the by-key table is inside its card at 1280 px.
    card = page.locator("section.card", has=page.locator("h2", has_text="By key"))
    denied = card.locator("th", has_text="Denied")
    card_box, denied_box = card.bounding_box(), denied.bounding_box()
    assert denied_box["x"] + denied_box["width"] <= card_box["x"] + card_box["width"]
    assert card.locator("td", has_text="7,654,321").is_visible()

    # The tab marked current follows the range shown.
    page.click("text=Last 7 days")
    page.wait_for_selector("text=Requests · Last 7 days")
    current = page.locator("nav.tabs a[aria-current=page]")
    assert current.count() == 1 and current.inner_text() == "Last 7 days"
