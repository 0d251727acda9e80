"""Coupons and promotion codes from the catalog: synced to Stripe, redeemed in Checkout,
taken off invoices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from billing import flows, gateway
from billing.catalog_sync import sync_catalog
from billing.models import Invoice
from catalog.applying import CatalogError, apply_catalog
from catalog.models import Coupon
from tests.billing.conftest import deliver, run_and_deliver


def checkout_with_code(sim, client, team, plan, alice, code: str, **kwargs) -> str:
    start = len(sim.events())
    url = flows.start_checkout(team, plan, alice, "http://t/s", "http://t/c", **kwargs)
    session = sim.control(f"checkout/{url.rsplit('/', 1)[1]}/pay", card="4242424242424242",
                          promotion_code=code)  # fmt: skip
    deliver(client, sim.events()[start:])
    return str(session["subscription"])


def test_the_sync_mirrors_the_coupon_and_its_codes_once(launch, sim):
    coupon = gateway.retrieve_coupon(launch.stripe_coupon_id)
    assert coupon is not None
    assert (coupon["percent_off"], coupon["duration"], coupon["duration_in_months"]) == (
        20.0,
        "repeating",
        3,
    )
    [code] = gateway.promotion_codes("launch20")  # Stripe matches codes whatever the case
    assert code["promotion"]["coupon"] == launch.stripe_coupon_id
    assert sync_catalog().created == 0


def test_new_terms_make_a_new_coupon_and_move_the_code(launch, sim):
    old = launch.stripe_coupon_id
    launch.percent_off = Decimal("25")
    launch.save()
    sync_catalog()
    launch.refresh_from_db()
    assert launch.stripe_coupon_id != old
    [code] = gateway.promotion_codes("LAUNCH20")
    assert code["promotion"]["coupon"] == launch.stripe_coupon_id


def test_a_promotion_code_discounts_the_invoices_of_its_months(
    client, plans, team, alice, launch, sim
):
    sub_id = checkout_with_code(sim, client, team, plans["starter"], alice, "launch20")
    customer = gateway.retrieve_subscription(sub_id)["customer"]
    [first] = gateway.list_invoices(customer)
    # 10.00 a month, 20% off: 2.00 taken off, on the line and in the totals.
    assert [d["amount"] for d in first["total_discount_amounts"]] == [200]
    assert (first["subtotal"], first["total_excluding_tax"], first["amount_due"]) == (
        1000,
        800,
        800,
    )
    [line] = first["lines"]["data"]
    assert [d["amount"] for d in line["discount_amounts"]] == [200]
    invoice = Invoice.objects.get(stripe_id=first["id"])
    assert (invoice.amount_due, invoice.discount) == (800, 200)
    upcoming = flows.upcoming_invoice(team)
    assert upcoming is not None and (upcoming.amount_due, upcoming.discount_amount) == (800, 200)
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/billing/").content.decode()
    assert '8.00 USD <span class="invoice-discount">(discount 2.00)</span>' in page
    assert "after a discount of 2.00 USD" in page

    # Three months of discount: the renewals of months 2 and 3 are discounted, not month 4's.
    amounts = []
    for _ in range(3):
        run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
        renewal = max(gateway.list_invoices(customer), key=lambda i: i["number"])
        amounts.append(renewal["amount_due"])
    assert amounts == [800, 800, 1000]


def test_a_once_coupon_discounts_the_first_invoice_only(client, plans, team, alice, sim):
    Coupon.objects.create(slug="welcome", name="5.00 off", amount_off=Decimal("5.00"),
                          duration="once", promotion_codes=["WELCOME"])  # fmt: skip
    sync_catalog()
    sub_id = checkout_with_code(sim, client, team, plans["starter"], alice, "WELCOME")
    customer = gateway.retrieve_subscription(sub_id)["customer"]
    run_and_deliver(sim, client, lambda: sim.control(f"subscriptions/{sub_id}/advance"))
    invoices = sorted(gateway.list_invoices(customer), key=lambda i: i["number"])
    assert [i["amount_due"] for i in invoices] == [500, 1000]
    assert gateway.retrieve_subscription(sub_id)["discounts"] == []


def test_discount_then_tax(client, plans, team, alice, launch, sim, settings):
    settings.STRIPE_AUTOMATIC_TAX = True
    sub_id = checkout_with_code(sim, client, team, plans["starter"], alice, "LAUNCH20")
    [first] = gateway.list_invoices(gateway.retrieve_subscription(sub_id)["customer"])
    # 10.00 less 20% is 8.00; 10% tax on 8.00 is 0.80.
    assert (first["total_excluding_tax"], first["total_taxes"][0]["amount"]) == (800, 80)
    assert first["total"] == first["amount_due"] == 880


def test_checkout_allows_promotion_codes_only_when_the_catalog_has_some(plans, team, alice, sim):
    url = flows.start_checkout(team, plans["starter"], alice, "http://t/s", "http://t/c")
    refused = sim.control_status(f"checkout/{url.rsplit('/', 1)[1]}/pay", promotion_code="X")
    assert refused == 400


@pytest.mark.parametrize("code", ["NOPE", "LAUNCH21", "", "LAUNCH20' OR 1=1"])
def test_an_unknown_code_is_refused_and_nothing_is_bought(plans, team, alice, launch, sim, code):
    url = flows.start_checkout(team, plans["starter"], alice, "http://t/s", "http://t/c")
    status = sim.control_status(f"checkout/{url.rsplit('/', 1)[1]}/pay", promotion_code=code or "x")
    assert status == 400
    assert gateway.list_invoices(team.billing_customer.stripe_id) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"percent_off": "20", "amount_off": "5"},
        {},
        {"percent_off": "0"},
        {"percent_off": "101"},
        {"amount_off": "-1"},
        {"percent_off": "10", "duration": "repeating"},
        {"percent_off": "10", "duration": "once", "duration_in_months": 2},
        {"percent_off": "10", "duration": "sometimes"},
        {"percent_off": "10", "promotion_codes": ["has space"]},
        {"percent_off": "10", "promotion_codes": ["LAUNCH_20"]},  # Stripe: letters, digits, -
        {"percent_off": "10", "promotion_codes": ["été"]},
        {"percent_off": "10", "promotion_codes": ["A", "a"]},
        {"percent_off": "10", "promotion_codes": "LAUNCH"},
        {"percent_off": "ten"},
    ],
)
def test_the_catalog_refuses_a_bad_coupon(db, tmp_path, fields):
    with pytest.raises((CatalogError, ValidationError)):
        apply_catalog({"coupons": [{"slug": "bad", "name": "Bad", **fields}]}, tmp_path)
    assert not Coupon.objects.exists()


def test_the_catalog_applies_coupons(db, tmp_path):
    entry = {"slug": "launch", "name": "Launch", "percent_off": "20", "duration": "forever",
             "promotion_codes": ["LAUNCH20"]}  # fmt: skip
    report = apply_catalog({"coupons": [entry]}, tmp_path)
    assert report.created == ["coupon launch"]
    assert apply_catalog({"coupons": [entry]}, tmp_path).unchanged == ["coupon launch"]
    coupon = Coupon.objects.get()
    assert (coupon.percent_off, coupon.amount_off, coupon.promotion_codes) == (
        Decimal("20"),
        None,
        ["LAUNCH20"],
    )
