from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.standing import calendar_month
from tests.usage.conftest import add_usage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_dashboard_draws_its_charts_and_agrees_with_the_api(
    signed_in_page, live_server, alice, team, pro_plan, live_key, redis_db
):
    team.plan = pro_plan
    team.save()
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    period_start, _ = calendar_month(now)  # the period of an account with no subscription
    for back, calls in enumerate([40, 25, 60]):
        # Never before the period: in a month's first hours, the earlier ones were last month's.
        add_usage(team, live_key, max(hour - timedelta(hours=back), period_start), calls)
    add_usage(team, live_key, hour, 7, outcome="quota_exceeded")
    page = signed_in_page(alice)
    errors = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )

    page.goto(f"{live_server.url}/a/{team.slug}/usage/")
    page.wait_for_selector("[data-chart=requests][data-drawn=true] canvas")
    assert page.locator("[data-chart=burn-down] canvas").count() == 1
    shown = int(page.text_content("[data-testid=period-used]").replace(",", ""))
    api = page.request.get(f"{live_server.url}/api/v1/usage/{team.slug}/glance/").json()
    assert shown == api["used"] == 125
    assert page.text_content("[data-testid=denied-quota_exceeded]") == "7"

    page.click("text=Last 7 days")  # htmx swaps the report; the chart is drawn again
    page.wait_for_url("**/usage/?range=7d")
    page.wait_for_selector("text=Requests · Last 7 days")
    page.wait_for_selector("#usage-report [data-chart=requests][data-drawn=true] canvas")
    assert errors == []
