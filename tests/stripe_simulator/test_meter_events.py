"""Meter events are accepted at once and checked later, as Stripe does."""

from __future__ import annotations

import time


def meter_event(stripe, customer: str, identifier: str, value: str = "10", **extra):
    data = {"event_name": "calls", "identifier": identifier, "payload[value]": value,
            "payload[stripe_customer_id]": customer, **extra}  # fmt: skip
    return stripe.request("POST", "/v1/billing/meter_events", data)


def test_an_unknown_customer_is_accepted_then_reported_by_an_error_report(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"], extra=[("line_items[1][price]", prices["overage"])])
    status, accepted, _ = meter_event(stripe, "cus_unknown", "batch-1")
    assert status == 200 and accepted["identifier"] == "batch-1"
    assert meter_event(stripe, sub["customer"], "batch-2", "7")[0] == 200
    preview = stripe.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
    assert [line["quantity"] for line in preview["lines"]["data"] if line["quantity"] != 1] == [7]
    assert stripe.ok("POST", "/_sim/meter_errors/report") == {"reported": 1}
    [notice] = stripe.events("v1.billing.meter.error_report_triggered")
    assert set(notice) == {"id", "object", "type", "created", "livemode", "related_object"}
    assert notice["related_object"]["type"] == "billing.meter"
    event = stripe.ok("GET", f"/v2/core/events/{notice['id']}")
    [kind] = event["data"]["reason"]["error_types"]
    assert kind["code"] == "meter_event_customer_not_found"
    assert kind["sample_errors"][0]["request"]["identifier"] == "batch-1"
    assert stripe.ok("POST", "/_sim/meter_errors/report") == {"reported": 0}  # reported once


def test_an_identifier_is_billed_once_and_timestamps_stay_in_stripes_window(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"], extra=[("line_items[1][price]", prices["overage"])])
    assert meter_event(stripe, sub["customer"], "b", "5")[0] == 200
    status, body, _ = meter_event(stripe, sub["customer"], "b", "5")  # refused, not billed
    assert status == 400 and body["error"] == {
        "type": "invalid_request_error",
        "message": "An event already exists with identifier b.",
    }
    preview = stripe.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
    assert [line["quantity"] for line in preview["lines"]["data"] if line["quantity"] != 1] == [5]
    old = str(int(time.time()) - 36 * 86400)
    status, body, _ = meter_event(stripe, sub["customer"], "c", timestamp=old)
    assert status == 400 and body["error"]["param"] == "timestamp"


def test_a_value_that_is_not_a_whole_number_is_accepted_then_reported_never_a_500(stripe):
    """Stripe validates v1 meter events asynchronously and lists `meter_event_invalid_value`
    among its error report's codes: the event is accepted, left out of the usage, reported."""
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"], extra=[("line_items[1][price]", prices["overage"])])
    for identifier, value in (("bad-1", "abc"), ("bad-2", "1.5"), ("good", "4")):
        assert meter_event(stripe, sub["customer"], identifier, value)[0] == 200
    preview = stripe.ok("POST", "/v1/invoices/create_preview", {"subscription": sub["id"]})
    assert [line["quantity"] for line in preview["lines"]["data"] if line["quantity"] != 1] == [4]
    assert stripe.ok("POST", "/_sim/meter_errors/report") == {"reported": 2}
    [notice] = stripe.events("v1.billing.meter.error_report_triggered")
    [kind] = stripe.ok("GET", f"/v2/core/events/{notice['id']}")["data"]["reason"]["error_types"]
    assert (kind["code"], kind["error_count"]) == ("meter_event_invalid_value", 2)
