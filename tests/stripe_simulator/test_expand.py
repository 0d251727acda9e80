"""`expand[]` follows the fields Stripe's description marks expandable: ids (`string | T`, each
of `Array<string | T>`) and lists a resource includes only when asked (Checkout's
`line_items`); anything else is refused as Stripe refuses it."""

from __future__ import annotations


def promoted_subscription(stripe) -> tuple[dict, dict]:
    prices = stripe.catalog()
    stripe.promotion_code("forever")
    sub = stripe.subscribe(prices["pro"], extra=[("allow_promotion_codes", "true")])
    return prices, sub


def checkout(stripe, prices: dict) -> dict:
    customer = stripe.ok("POST", "/v1/customers", {"email": "b@example.com"})
    return stripe.ok(
        "POST",
        "/v1/checkout/sessions",
        [
            ("mode", "subscription"),
            ("customer", customer["id"]),
            ("success_url", "http://t/s"),
            ("line_items[0][price]", prices["pro"]),
            ("line_items[0][quantity]", "1"),
            ("line_items[1][price]", prices["overage"]),
            ("allow_promotion_codes", "true"),
        ],
    )


def test_discounts_expand_to_discount_objects(stripe):
    prices, sub = promoted_subscription(stripe)
    assert sub["discounts"] == []  # no code given in the checkout above
    session = checkout(stripe, prices)
    paid = stripe.ok("POST", f"/_sim/checkout/{session['id']}/pay",
                     {"card": "4242424242424242", "promotion_code": "launch"})  # fmt: skip
    sub = stripe.ok("GET", f"/v1/subscriptions/{paid['subscription']}")
    [discount_id] = sub["discounts"]
    expanded = stripe.ok("GET", f"/v1/subscriptions/{sub['id']}", {"expand[]": "discounts"})
    [discount] = expanded["discounts"]
    assert (discount["object"], discount["id"]) == ("discount", discount_id)
    deeper = stripe.ok("GET", f"/v1/subscriptions/{sub['id']}",
                       {"expand[]": "discounts.promotion_code"})  # fmt: skip
    assert deeper["discounts"][0]["promotion_code"]["code"] == "LAUNCH"
    invoice = stripe.ok("GET", f"/v1/invoices/{sub['latest_invoice']}",
                        {"expand[]": "total_discount_amounts.discount"})  # fmt: skip
    assert invoice["total_discount_amounts"][0]["discount"]["id"] == discount_id


def test_line_items_are_included_when_asked(stripe):
    prices = stripe.catalog()
    session = checkout(stripe, prices)
    assert "line_items" not in stripe.ok("GET", f"/v1/checkout/sessions/{session['id']}")
    found = stripe.ok("GET", f"/v1/checkout/sessions/{session['id']}", {"expand[]": "line_items"})
    items = found["line_items"]
    assert items["object"] == "list" and items["url"].endswith("/line_items")
    pro, overage = items["data"]
    assert (pro["object"], pro["price"]["id"], pro["quantity"]) == ("item", prices["pro"], 1)
    assert (pro["amount_subtotal"], pro["amount_total"], pro["description"]) == (2900, 2900, "Pro")
    assert (overage["price"]["id"], overage["quantity"], overage["amount_total"]) == (
        prices["overage"], None, 0)  # fmt: skip
    again = stripe.ok("GET", f"/v1/checkout/sessions/{session['id']}", {"expand[]": "line_items"})
    assert [i["id"] for i in again["line_items"]["data"]] == [pro["id"], overage["id"]]
    nested = stripe.ok("GET", f"/v1/checkout/sessions/{session['id']}",
                       {"expand[]": "line_items.data.price.product"})  # fmt: skip
    assert nested["line_items"]["data"][0]["price"]["product"]["name"] == "Pro"
    # The stored price keeps its product id.
    assert stripe.ok("GET", f"/v1/prices/{prices['pro']}")["product"] == "pro"


def test_paths_through_hashes_lists_and_embedded_objects(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    found = stripe.ok("GET", f"/v1/subscriptions/{sub['id']}", [
        ("expand[]", "latest_invoice.customer"), ("expand[]", "items.data.price.product"),
        ("expand[]", "schedule"), ("expand[]", "customer.invoice_settings.default_payment_method"),
    ])  # fmt: skip
    assert found["latest_invoice"]["customer"]["id"] == sub["customer"]
    assert found["items"]["data"][0]["price"]["product"]["id"] == "pro"
    assert found["schedule"] is None  # null stays null
    card = found["customer"]["invoice_settings"]["default_payment_method"]
    assert card["object"] == "payment_method"
    invoice = stripe.ok("GET", f"/v1/invoices/{sub['latest_invoice']}",
                        {"expand[]": "parent.subscription_details.subscription"})  # fmt: skip
    assert invoice["parent"]["subscription_details"]["subscription"]["id"] == sub["id"]
    listed = stripe.ok("GET", "/v1/customers/" + sub["customer"], {"expand[]": "subscriptions"})
    assert [s["id"] for s in listed["subscriptions"]["data"]] == [sub["id"]]


def test_what_is_not_expandable_is_refused(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    for path in ("items", "automatic_tax", "items.data.price", "metadata", "status"):
        error = stripe.error("GET", f"/v1/subscriptions/{sub['id']}", {"expand[]": path})
        assert error["message"] == f"This property cannot be expanded ({path})."
    # Stripe can include an invoice's payments; the simulator keeps none and says so.
    error = stripe.error("GET", f"/v1/invoices/{sub['latest_invoice']}", {"expand[]": "payments"})
    assert "the Stripe simulator does not keep" in error["message"]
    error = stripe.error("GET", "/v1/invoices", {"expand[]": "customer"})
    assert "You may want to try expanding 'data.customer' instead." in error["message"]
