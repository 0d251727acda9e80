"""Stripe Tax: automatic tax in Checkout and on its subscriptions, address and tax ID collection."""

from __future__ import annotations

import pytest

from billing import flows, gateway
from billing.models import Invoice
from stripe_simulator import taxes
from tests.billing.conftest import run_and_deliver, subscribe


@pytest.fixture
def tax_on(settings):
    settings.STRIPE_AUTOMATIC_TAX = True
    return settings


def session_of(team, alice, plan, **kwargs) -> dict:
    url = flows.start_checkout(team, plan, alice, "http://t/s", "http://t/c", **kwargs)
    return gateway.retrieve_checkout_session(url.rsplit("/", 1)[1])


def test_checkout_asks_for_tax_and_the_address_when_stripe_tax_is_on(plans, team, alice, tax_on):
    session = session_of(team, alice, plans["starter"])
    assert session["automatic_tax"]["enabled"] is True
    assert session["billing_address_collection"] == "required"
    assert "tax_id_collection" not in session


def test_checkout_collects_the_address_and_tax_id_when_asked(plans, team, alice, settings, sim):
    settings.STRIPE_COLLECT_BILLING_ADDRESS = True
    settings.STRIPE_COLLECT_TAX_ID = True
    session = session_of(team, alice, plans["starter"])
    assert session["automatic_tax"]["enabled"] is False
    assert session["billing_address_collection"] == "required"
    assert session["tax_id_collection"] == {"enabled": True, "required": "never"}


def test_checkout_asks_nothing_more_by_default(plans, team, alice, sim):
    session = session_of(team, alice, plans["starter"])
    assert session["automatic_tax"]["enabled"] is False
    assert session["billing_address_collection"] is None
    assert "tax_id_collection" not in session


def test_an_invoice_carries_stripe_tax_and_the_billing_page_shows_it(
    client, plans, team, alice, sim, tax_on
):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    customer = gateway.retrieve_subscription(sub_id)["customer"]
    [first] = gateway.list_invoices(customer)
    # 10.00 a month, 10% simulated sales tax on top (stripe_simulator/taxes.py).
    assert (first["subtotal"], first["total"], first["amount_due"]) == (1000, 1100, 1100)
    assert [t["amount"] for t in first["total_taxes"]] == [100]
    assert first["automatic_tax"]["status"] == "complete"
    assert first["customer_address"]["country"] == "US"  # collected by Checkout
    assert gateway.retrieve_subscription(sub_id)["automatic_tax"]["enabled"] is True
    invoice = Invoice.objects.get(stripe_id=first["id"])
    assert (invoice.amount_due, invoice.tax) == (1100, 100)

    upcoming = flows.upcoming_invoice(team)
    assert upcoming is not None and (upcoming.amount_due, upcoming.tax_amount) == (1100, 100)
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/billing/").content.decode()
    assert '11.00 USD <span class="invoice-tax">(tax 1.00)</span>' in page
    assert "tax 1.00 USD." in page


def test_prorations_are_taxed_and_the_totals_add_up(client, plans, team, alice, sim, tax_on):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    run_and_deliver(
        sim,
        client,
        lambda: flows.change_plan(team, plans["pro"], alice, downgrade_at_period_end=False),
    )
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    customer = gateway.retrieve_subscription(sub_id)["customer"]
    [renewal] = [
        i for i in gateway.list_invoices(customer) if i["billing_reason"] == "subscription_cycle"
    ]
    lines = renewal["lines"]["data"]
    # Pro for the new month, the credit and the charge of the change (and Starter's overage
    # item, kept until this renewal billed its usage: none here).
    assert len([line for line in lines if line["amount"]]) == 3
    assert all(line["taxes"][0]["amount"] == taxes.tax_on(line["amount"]) for line in lines)
    tax = sum(line["taxes"][0]["amount"] for line in lines)
    assert renewal["total_taxes"][0]["amount"] == tax
    assert renewal["total"] == renewal["subtotal"] + tax == renewal["amount_due"]
    assert Invoice.objects.get(stripe_id=renewal["id"]).tax == tax


def test_without_stripe_tax_invoices_carry_no_tax(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    [first] = gateway.list_invoices(gateway.retrieve_subscription(sub_id)["customer"])
    assert (first["total_taxes"], first["amount_due"]) == ([], 1000)
    assert Invoice.objects.get(stripe_id=first["id"]).tax == 0
    client.force_login(alice)
    assert "invoice-tax" not in client.get(f"/a/{team.slug}/billing/").content.decode()


def test_the_simulator_refuses_automatic_tax_without_a_place_for_the_address(plans, team, sim):
    customer = flows.ensure_customer(team, "a@example.com")
    params = {
        "mode": "subscription",
        "customer": customer.stripe_id,
        "line_items": [{"price": plans["starter"].stripe_price_id, "quantity": 1}],
        "success_url": "http://t/s",
        "automatic_tax": {"enabled": True},
    }
    with pytest.raises(gateway.BillingError) as caught:
        gateway.create_checkout_session(params, key=None)
    assert caught.value.code == "customer_tax_location_invalid"
