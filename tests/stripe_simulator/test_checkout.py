"""Checkout Sessions as Stripe fills them: line item quantities checked as Stripe checks them,
the amounts at creation, and once a subscription-mode session completes, its first invoice,
amounts and discounts; what it does not model at the value of a feature not used."""

from __future__ import annotations


def session(stripe, *items, extra=()):
    customer = stripe.ok("POST", "/v1/customers", {"email": "a@example.com", "name": "Ann"})
    data = [("mode", "subscription"), ("customer", customer["id"]), ("success_url", "http://t/s"),
            *items, *extra]  # fmt: skip
    return stripe.request("POST", "/v1/checkout/sessions", data)


def test_a_licensed_line_needs_a_quantity_and_a_metered_one_takes_none(stripe):
    prices = stripe.catalog()
    status, body, _ = session(stripe, ("line_items[0][price]", prices["pro"]))
    assert status == 400
    assert body["error"]["param"] == "line_items[0][quantity]"
    assert body["error"]["message"] == "Quantity is required. Add `quantity` to `line_items[0]`."
    status, body, _ = session(
        stripe, ("line_items[0][price]", prices["pro"]), ("line_items[0][quantity]", "1"),
        ("line_items[1][price]", prices["overage"]), ("line_items[1][quantity]", "1"),
    )  # fmt: skip
    assert status == 400 and body["error"]["param"] == "line_items[1][quantity]"
    assert not stripe.store.all("checkout.session")


def test_a_subscription_session_states_its_amounts_and_after_payment_its_invoice(stripe):
    prices = stripe.catalog()
    stripe.ok("POST", "/v1/coupons", {"id": "launch", "percent_off": "20", "duration": "once"})
    promo = stripe.ok(
        "POST",
        "/v1/promotion_codes",
        [("promotion[type]", "coupon"), ("promotion[coupon]", "launch"), ("code", "LAUNCH")],
    )
    status, created, _ = session(
        stripe, ("line_items[0][price]", prices["pro"]), ("line_items[0][quantity]", "1"),
        ("line_items[1][price]", prices["overage"]), extra=[("allow_promotion_codes", "true")],
    )  # fmt: skip
    assert status == 200
    assert (created["amount_subtotal"], created["amount_total"]) == (2900, 2900)
    assert created["total_details"] == {"amount_discount": 0, "amount_shipping": 0,
                                        "amount_tax": 0}  # fmt: skip
    assert created["invoice"] is None and created["discounts"] is None
    assert created["allow_promotion_codes"] is True
    # What the session does not use is as Stripe leaves it, not a fixture's sample.
    assert created["shipping_cost"] is None and created["currency_conversion"] is None
    assert created["custom_text"] == {
        "after_submit": None,
        "shipping_address": None,
        "submit": None,
        "terms_of_service_acceptance": None,
    }
    assert created["customer_details"] is None
    stripe.ok("POST", f"/_sim/checkout/{created['id']}/pay",
              {"card": "4242424242424242", "promotion_code": "launch"})  # fmt: skip
    done = stripe.ok("GET", f"/v1/checkout/sessions/{created['id']}")
    sub = stripe.ok("GET", f"/v1/subscriptions/{done['subscription']}")
    assert done["invoice"] == sub["latest_invoice"]
    invoice = stripe.ok("GET", f"/v1/invoices/{done['invoice']}")
    assert (done["amount_subtotal"], done["amount_total"]) == (2900, 2320) == (
        invoice["subtotal"], invoice["total"])  # fmt: skip
    assert done["total_details"] == {"amount_discount": 580, "amount_shipping": 0,
                                     "amount_tax": 0}  # fmt: skip
    assert done["discounts"] == [{"coupon": "launch", "promotion_code": promo["id"]}]
    assert done["customer_details"]["email"] == "a@example.com"
    assert done["customer_details"]["name"] == "Ann"
    assert invoice["amount_overpaid"] == 0 and invoice["webhooks_delivered_at"] is None
    assert sub["billing_thresholds"] is None and sub["pending_invoice_item_interval"] is None


def test_a_trial_session_comes_to_nothing_now(stripe):
    prices = stripe.catalog()
    status, created, _ = session(
        stripe, ("line_items[0][price]", prices["pro"]), ("line_items[0][quantity]", "1"),
        extra=[("subscription_data[trial_period_days]", "14")],
    )  # fmt: skip
    assert (status, created["amount_total"]) == (200, 0)
    stripe.ok("POST", f"/_sim/checkout/{created['id']}/pay", {"card": "4242424242424242"})
    done = stripe.ok("GET", f"/v1/checkout/sessions/{created['id']}")
    assert done["amount_total"] == 0 and done["invoice"] is not None
