"""Every object the simulator returns has Stripe's fields and types (from fixtures3.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from billing import flows, gateway
from tests.billing.conftest import subscribe

# The project's shared copy of Stripe's fixture set, beside the checkout (../shared/stripe/).
SHARED = Path("/work/shared/stripe/fixtures3.json")


def fixtures() -> dict:
    from stripe_simulator.shapes import fixtures as vendored

    return vendored()


def assert_shaped_like(obj: dict, kind: str) -> None:
    expected = fixtures()[kind]
    assert set(obj) == set(expected), (kind, set(obj) ^ set(expected))
    for field, example in expected.items():
        value = obj[field]
        if value is None or example is None:
            continue
        assert type(value) is type(example) or {type(value), type(example)} <= {int, float}, (
            kind,
            field,
            value,
            example,
        )


def test_it_vendors_the_shared_fixtures_unchanged():
    if not SHARED.exists():
        pytest.skip("the shared fixtures are not on this machine")
    assert fixtures() == json.loads(SHARED.read_text())["resources"]


def test_it_shapes_every_object_like_stripe(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    customer = team.billing_customer.stripe_id
    headers = {"Authorization": "Bearer sk_test_x"}

    def get(path):
        return requests.get(f"{sim.url}{path}", headers=headers, timeout=5).json()

    subscription = get(f"/v1/subscriptions/{sub_id}")
    assert_shaped_like(subscription, "subscription")
    for item in subscription["items"]["data"]:
        assert_shaped_like(item, "subscription_item")
        assert_shaped_like(item["price"], "price")
    assert_shaped_like(get(f"/v1/customers/{customer}"), "customer")
    assert_shaped_like(get(f"/v1/products/{plans['starter'].stripe_product_id}"), "product")
    invoice = get(f"/v1/invoices?customer={customer}")["data"][0]
    assert_shaped_like(invoice, "invoice")
    for line in invoice["lines"]["data"]:
        assert_shaped_like(line, "line_item")
    flows.change_plan(team, plans["pro"], alice, downgrade_at_period_end=True)
    prorations = get(f"/v1/invoiceitems?customer={customer}")["data"]
    assert len(prorations) == 2
    for item in prorations:
        assert_shaped_like(item, "invoiceitem")
    upcoming = gateway.preview_invoice(customer, sub_id)
    assert_shaped_like(upcoming, "invoice")
    for line in upcoming["lines"]["data"]:
        assert_shaped_like(line, "line_item")
    assert "invoice.created" in {event["type"] for event in sim.events()}
    assert_shaped_like(get("/v1/billing/meters")["data"][0], "billing.meter")
    for event in sim.events():
        assert_shaped_like(event, "event")
    session = get(f"/v1/checkout/sessions/{subscription_session(team)}")
    assert_shaped_like(session, "checkout.session")
    portal = gateway.create_portal_session(customer, "http://t/back")
    assert_shaped_like(portal, "billing_portal.session")
    meter_event = gateway.create_meter_event(
        "tollgate_api_calls", customer, 5, "id-1", 1_800_000_000
    )
    assert_shaped_like(meter_event, "billing.meter_event")


def subscription_session(team) -> str:
    return team.subscriptions.get().checkout_session_id


def test_it_answers_errors_in_stripes_shape(sim):
    response = requests.get(
        f"{sim.url}/v1/customers/cus_nope", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    unauthorized = requests.get(f"{sim.url}/v1/customers/cus_nope", timeout=5)
    assert unauthorized.status_code == 401


def test_it_honours_idempotency_keys(db, sim):
    first = gateway.create_customer("a@example.com", "A", {}, key="same-key")
    second = gateway.create_customer("a@example.com", "A", {}, key="same-key")
    assert first["id"] == second["id"]
    third = gateway.create_customer("a@example.com", "A", {}, key="other-key")
    assert third["id"] != first["id"]
