"""Subscriptions as Stripe documents them: trials, prorations, schedules, update events."""

from __future__ import annotations

import pytest

from stripe_simulator.store import API_VERSION

DAY = 86400


def test_a_trial_invoices_zero_at_the_start_and_charges_when_it_ends(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"], trial_days=14)
    assert sub["status"] == "trialing" and sub["trial_end"] - sub["trial_start"] == 14 * DAY
    [first] = stripe.invoices(sub["id"])
    assert (first["amount_due"], first["amount_paid"], first["status"]) == (0, 0, "paid")
    assert first["lines"]["data"][0]["description"] == "Trial period for Pro"
    assert not stripe.events("customer.subscription.trial_will_end")
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/backdate", {"seconds": str(11 * DAY + 60)})
    [warning] = stripe.events("customer.subscription.trial_will_end")
    assert warning["data"]["object"]["id"] == sub["id"]
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/backdate", {"seconds": "60"})
    assert len(stripe.events("customer.subscription.trial_will_end")) == 1  # once
    ended = stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/advance")
    assert ended["status"] == "active"
    charged = stripe.invoices(sub["id"])[0]
    assert (charged["amount_due"], charged["status"]) == (2900, "paid")
    # Its period is the one its items were added in, the trial (Stripe: "use the line item
    # period to get the service period"); its line bills the month from the trial's end.
    moved = 11 * DAY + 120
    trial = (sub["trial_start"] - moved, sub["trial_end"] - moved)
    assert (charged["period_start"], charged["period_end"]) == trial
    assert charged["lines"]["data"][0]["period"]["start"] == trial[1]


def test_a_short_trial_warns_at_once(stripe):
    prices = stripe.catalog()
    stripe.subscribe(prices["pro"], trial_days=2)
    assert len(stripe.events("customer.subscription.trial_will_end")) == 1


@pytest.mark.parametrize(
    ("behaviour", "pending", "invoiced_now"),
    [("create_prorations", 2, False), ("none", 0, False), ("always_invoice", 0, True)],
)
def test_proration_behaviour(stripe, behaviour, pending, invoiced_now):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/backdate", {"seconds": str(10 * DAY)})
    item = sub["items"]["data"][0]["id"]
    stripe.ok("POST", f"/v1/subscriptions/{sub['id']}", [
        ("items[0][id]", item), ("items[0][price]", prices["business"]),
        ("proration_behavior", behaviour)])  # fmt: skip
    waiting = stripe.ok("GET", "/v1/invoiceitems", {"pending": "true"})["data"]
    assert len([ii for ii in waiting if ii["invoice"] is None]) == pending
    invoices = stripe.invoices(sub["id"])
    assert (invoices[0]["billing_reason"] == "subscription_update") is invoiced_now
    if invoiced_now:
        credit, charge = sorted(line["amount"] for line in invoices[0]["lines"]["data"])
        assert credit < 0 < charge and invoices[0]["amount_due"] == credit + charge
        assert invoices[0]["status"] == "paid"


def test_a_downgrade_scheduled_for_the_period_end_renews_at_the_new_price(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["business"])
    start, end = (
        sub["items"]["data"][0][k] for k in ("current_period_start", "current_period_end")
    )
    schedule = stripe.ok("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]})
    stripe.ok("POST", f"/v1/subscription_schedules/{schedule['id']}", [
        ("end_behavior", "release"),
        ("phases[0][items][0][price]", prices["business"]),
        ("phases[0][start_date]", str(start)), ("phases[0][end_date]", str(end)),
        ("phases[1][items][0][price]", prices["pro"]),
        ("phases[1][duration][interval]", "month")])  # fmt: skip
    still = stripe.ok("GET", f"/v1/subscriptions/{sub['id']}")
    assert still["schedule"] == schedule["id"]
    preview = stripe.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
    assert preview["amount_due"] == 2900  # the upcoming invoice already has the new price
    assert still["items"]["data"][0]["price"]["id"] == prices["business"]  # until the renewal
    renewed = stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/advance")
    assert [i["price"]["id"] for i in renewed["items"]["data"]] == [prices["pro"]]
    invoice = stripe.invoices(sub["id"])[0]
    assert invoice["amount_due"] == 2900
    assert [line["description"] for line in invoice["lines"]["data"]] == ["1 x Pro"]
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/advance")  # the last phase ends
    released = stripe.ok("GET", f"/v1/subscription_schedules/{schedule['id']}")
    assert released["status"] == "released" and released["released_subscription"] == sub["id"]
    assert stripe.ok("GET", f"/v1/subscriptions/{sub['id']}")["schedule"] is None


def test_a_subscription_a_schedule_manages_refuses_a_change_of_its_end(stripe):
    """Stripe: "updating any cancelation behavior directly is not allowed" while a schedule
    manages the subscription, in its first phase and in its last (after the switch); once the
    schedule is released, the subscription's end is its own again."""
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["business"])
    start, end = (
        sub["items"]["data"][0][k] for k in ("current_period_start", "current_period_end")
    )
    schedule = stripe.ok("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]})
    cancel = {"cancel_at_period_end": "true"}
    error = stripe.error("POST", f"/v1/subscriptions/{sub['id']}", cancel)
    assert error["type"] == "invalid_request_error" and schedule["id"] in error["message"]
    stripe.ok("POST", f"/v1/subscription_schedules/{schedule['id']}", [
        ("end_behavior", "release"),
        ("phases[0][items][0][price]", prices["business"]),
        ("phases[0][start_date]", str(start)), ("phases[0][end_date]", str(end)),
        ("phases[1][items][0][price]", prices["pro"]),
        ("phases[1][duration][interval]", "month")])  # fmt: skip
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/advance")  # into the last phase
    assert (
        stripe.error("POST", f"/v1/subscriptions/{sub['id']}", cancel)["message"]
        == error["message"]
    )
    assert stripe.ok("GET", f"/v1/subscriptions/{sub['id']}")["cancel_at_period_end"] is False
    stripe.ok("POST", f"/v1/subscription_schedules/{schedule['id']}/release")
    ended = stripe.ok("POST", f"/v1/subscriptions/{sub['id']}", cancel)
    assert ended["cancel_at_period_end"] is True


def test_a_schedule_keeps_the_current_phase_start_and_can_be_released(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["business"])
    schedule = stripe.ok("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]})
    error = stripe.error("POST", f"/v1/subscription_schedules/{schedule['id']}", [
        ("phases[0][items][0][price]", prices["pro"]), ("phases[0][start_date]", "1")])  # fmt: skip
    assert error["param"] == "phases[0][start_date]"
    again = stripe.error("POST", "/v1/subscription_schedules", {"from_subscription": sub["id"]})
    assert again["param"] == "from_subscription"
    stripe.ok("POST", f"/v1/subscription_schedules/{schedule['id']}/release")
    assert stripe.ok("GET", f"/v1/subscriptions/{sub['id']}")["schedule"] is None


def test_events_carry_the_api_version_and_what_an_update_changed(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    stripe.ok("POST", f"/v1/subscriptions/{sub['id']}", {"cancel_at_period_end": "true"})
    assert {e["api_version"] for e in stripe.events()} == {API_VERSION}
    update = stripe.events("customer.subscription.updated")[-1]
    previous = update["data"]["previous_attributes"]
    assert previous["cancel_at_period_end"] is False and previous["cancel_at"] is None
    assert "status" not in previous and "customer" not in previous
    assert update["data"]["object"]["cancel_at_period_end"] is True
    assert "previous_attributes" not in stripe.events("customer.subscription.created")[0]["data"]
