"""Annual plans: a yearly price beside the monthly one, a monthly quota inside the year."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing import flows, gateway
from billing.catalog_sync import sync_catalog
from billing.models import Subscription
from billing.standing import add_months, quota_window, standing_for
from gateway.policy import load_policy
from tests.billing.conftest import run_and_deliver, subscribe

DAY = 86400


@pytest.fixture
def yearly(plans):
    """Starter (10.00 a month, overage per 1,000 calls) also sold at 100.00 a year."""
    starter = plans["starter"]
    starter.yearly_price = Decimal("100.00")
    starter.save()
    sync_catalog()
    starter.refresh_from_db()
    return starter


def test_the_catalog_sync_creates_yearly_prices_once(yearly, sim):
    keys = ["tollgate_starter_yearly", "tollgate_starter_overage_yearly"]
    prices = gateway.prices_by_lookup_key(keys)
    licensed = prices["tollgate_starter_yearly"]
    metered = prices["tollgate_starter_overage_yearly"]
    assert (licensed["id"], licensed["unit_amount"]) == (yearly.stripe_yearly_price_id, 10000)
    assert licensed["recurring"]["interval"] == "year"
    assert metered["id"] == yearly.stripe_yearly_overage_price_id
    assert (metered["recurring"]["interval"], metered["recurring"]["usage_type"]) == (
        "year",
        "metered",
    )
    assert sync_catalog().created == 0 and sync_catalog().updated == 0


def test_dropping_the_yearly_price_stops_selling_it(yearly, sim):
    yearly.yearly_price = None
    yearly.save()
    sync_catalog()
    yearly.refresh_from_db()
    assert not yearly.sold_yearly and yearly.stripe_yearly_overage_price_id == ""
    assert yearly.stripe_prices("month") == [yearly.stripe_price_id, yearly.stripe_overage_price_id]


def test_an_annual_subscription_resets_its_quota_monthly(client, yearly, team, alice, sim):
    sub_id = subscribe(sim, client, team, yearly, alice, interval="year")
    sub = Subscription.objects.get(stripe_id=sub_id)
    assert sub.plan == yearly
    assert sub.current_period_end == add_months(sub.current_period_start, 12)
    first = standing_for(team)
    assert (first.period_start, first.period_end) == (
        sub.current_period_start,
        add_months(sub.current_period_start, 1),
    )
    # The gateway's policy carries the month: its quota counter is keyed on the month's start.
    policy = load_policy(team.id, time.time())
    assert policy is not None
    assert (policy.period_start, policy.period_end) == (
        first.period_start.timestamp(),
        first.period_end.timestamp(),
    )

    # Forty days on (Stripe's dates moved back, as a test clock would): the second month.
    run_and_deliver(
        sim, client, lambda: sim.control(f"subscriptions/{sub_id}/backdate", seconds=40 * DAY)
    )
    sub.refresh_from_db()
    second = standing_for(team)
    assert second.period_start == add_months(sub.current_period_start, 1)
    assert second.period_end == add_months(sub.current_period_start, 2)
    assert second.period_start <= timezone.now() < second.period_end
    policy = load_policy(team.id, time.time())
    assert policy is not None and policy.period_start == second.period_start.timestamp()


def test_a_change_from_monthly_to_yearly_restarts_the_period_and_credits_the_month(
    client, yearly, team, alice, sim
):
    sub_id = subscribe(sim, client, team, yearly, alice)
    before = standing_for(team)
    run_and_deliver(
        sim,
        client,
        lambda: flows.change_plan(
            team, yearly, alice, downgrade_at_period_end=True, interval="year"
        ),
    )
    data = gateway.retrieve_subscription(sub_id)
    assert {i["price"]["id"] for i in data["items"]["data"]} == set(yearly.stripe_prices("year"))
    sub = Subscription.objects.get(stripe_id=sub_id)
    assert sub.plan == yearly
    assert sub.current_period_end == add_months(sub.current_period_start, 12)
    assert sub.current_period_start >= before.period_start

    # Stripe invoices the new year at once, less the unused part of the month paid for.
    customer = team.billing_customer.stripe_id
    [invoice] = [
        i for i in gateway.list_invoices(customer) if i["billing_reason"] == "subscription_update"
    ]
    amounts = sorted(line["amount"] for line in invoice["lines"]["data"] if line["amount"])
    assert amounts[-1] == 10000
    assert amounts[0] == pytest.approx(-1000, abs=2)  # the month barely begun
    assert invoice["amount_due"] == sum(amounts)
    assert team.invoices.get(stripe_id=invoice["id"]).amount_due == invoice["amount_due"]


def test_a_plan_change_keeps_the_yearly_interval(client, yearly, plans, team, alice, sim):
    plans["pro"].yearly_price = Decimal("500.00")
    plans["pro"].save()
    sync_catalog()
    plans["pro"].refresh_from_db()
    sub_id = subscribe(sim, client, team, yearly, alice, interval="year")
    start = Subscription.objects.get(stripe_id=sub_id).current_period_start
    run_and_deliver(
        sim,
        client,
        lambda: flows.change_plan(team, plans["pro"], alice, downgrade_at_period_end=True),
    )
    data = gateway.retrieve_subscription(sub_id)
    # The yearly licensed price stays yearly; Pro has no overage price, so Starter's stays
    # until the renewal bills the overage used so far.
    prices = [i["price"]["id"] for i in data["items"]["data"]]
    assert prices == [plans["pro"].stripe_yearly_price_id, yearly.stripe_yearly_overage_price_id]
    sub = Subscription.objects.get(stripe_id=sub_id)
    assert (sub.plan, sub.current_period_start) == (plans["pro"], start)


def test_a_yearly_subscription_cannot_move_to_a_plan_sold_monthly_only(
    client, yearly, plans, team, alice, sim
):
    sub_id = subscribe(sim, client, team, yearly, alice, interval="year")
    client.force_login(alice)
    response = client.post(f"/a/{team.slug}/billing/plan/", {"plan": "pro"}, follow=True)
    assert "Pro is not sold by the year" in response.content.decode()
    data = gateway.retrieve_subscription(sub_id)
    assert [i["price"]["id"] for i in data["items"]["data"]] == yearly.stripe_prices("year")
    # Asked for monthly billing, the same change goes through.
    run_and_deliver(sim, client, lambda: client.post(
        f"/a/{team.slug}/billing/plan/", {"plan": "pro", "interval": "month"}))  # fmt: skip
    assert Subscription.objects.get(stripe_id=sub_id).plan == plans["pro"]


@pytest.mark.parametrize(
    ("anchor", "now", "window"),
    [
        # The anchor's day is kept: 31 January gives 29 February (a leap year), then 31 March.
        ("2028-01-31", "2028-02-29T12:00", ("2028-02-29", "2028-03-31")),
        ("2028-01-31", "2028-03-31T00:00", ("2028-03-31", "2028-04-30")),
        ("2028-01-31", "2028-01-31T00:00", ("2028-01-31", "2028-02-29")),
        # The last month ends with the year; outside the period, the nearest month.
        ("2028-01-31", "2029-01-30T23:59", ("2028-12-31", "2029-01-31")),
        ("2028-01-31", "2030-06-01T00:00", ("2028-12-31", "2029-01-31")),
        ("2028-01-31", "2027-06-01T00:00", ("2028-01-31", "2028-02-29")),
    ],
)
def test_the_quota_window_is_a_month_of_the_year(anchor, now, window):
    start = datetime.fromisoformat(anchor).replace(tzinfo=UTC)
    end = add_months(start, 12)
    moment = datetime.fromisoformat(now).replace(tzinfo=UTC)
    expected = tuple(datetime.fromisoformat(d).replace(tzinfo=UTC) for d in window)
    assert quota_window(start, end, moment) == expected


def test_a_monthly_period_is_its_own_window():
    start = datetime(2028, 1, 31, tzinfo=UTC)
    end = start + timedelta(days=29)
    assert quota_window(start, end, start + timedelta(days=3)) == (start, end)


# --- the pricing page and checkout ------------------------------------------------------------
def test_the_pricing_page_offers_both_intervals(client, yearly, plans):
    monthly = client.get("/pricing/").content.decode()
    assert "$10/month" in monthly and "$100/year" not in monthly
    assert "Quotas are monthly on every plan" in monthly
    page = client.get("/pricing/?interval=year").content.decode()
    assert "$100/year" in page
    assert "$50/month" in page and "Billed monthly only." in page  # pro: no yearly price


def test_the_pricing_page_hides_the_toggle_without_yearly_prices(client, plans):
    page = client.get("/pricing/?interval=year").content.decode()
    assert "show-yearly" not in page and "/ year" not in page


def test_checkout_sells_the_yearly_price(client, yearly, team, alice, sim):
    client.force_login(alice)
    url = f"/a/{team.slug}/billing/checkout/"
    response = client.post(url, {"plan": "starter", "interval": "year"})
    assert response.status_code == 302
    session = sim.pay_checkout(response["Location"])
    data = gateway.retrieve_subscription(session["subscription"])
    assert [i["price"]["id"] for i in data["items"]["data"]] == yearly.stripe_prices("year")


@pytest.mark.parametrize("interval", ["year", "week", "YEAR", "month\x00", "x" * 500])
def test_checkout_refuses_an_interval_not_for_sale(client, plans, team, alice, sim, interval):
    client.force_login(alice)
    url = f"/a/{team.slug}/billing/checkout/"
    assert client.post(url, {"plan": "pro", "interval": interval}).status_code == 404
    assert not Subscription.objects.exists()
