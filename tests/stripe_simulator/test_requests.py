"""Requests the simulator refuses, as Stripe refuses them: a 400 in Stripe's error shape naming
the parameter, never a 500 or plain text; idempotency keys, pagination and `expand[]`."""

from __future__ import annotations

import pytest

DOC = "https://docs.stripe.com/error-codes/"


def test_an_unknown_parameter_is_refused_by_name(stripe):
    error = stripe.error("POST", "/v1/customers", {"email": "a@example.com", "colour": "red"})
    assert error == {
        "type": "invalid_request_error", "code": "parameter_unknown", "param": "colour",
        "message": "Received unknown parameter: colour", "doc_url": DOC + "parameter-unknown",
    }  # fmt: skip
    nested = stripe.error("POST", "/v1/billing/meter_events", [
        ("event_name", "calls"), ("payload[value]", "1"), ("payload[x][y]", "1")])  # fmt: skip
    assert nested["param"] == "payload" and nested["message"].startswith("Invalid hash")


def test_a_missing_required_parameter_is_refused_by_name(stripe):
    error = stripe.error("POST", "/v1/billing/meter_events", {"event_name": "calls"})
    assert (error["code"], error["param"]) == ("parameter_missing", "payload")
    assert error["message"] == "Missing required param: payload."


@pytest.mark.parametrize(
    ("path", "data", "param", "code"),
    [
        ("/v1/prices", [("product", "pro"), ("currency", "usd"),
                        ("unit_amount_decimal", "ten")], "unit_amount_decimal", None),
        ("/v1/prices", [("product", "pro"), ("currency", "usd"),
                        ("unit_amount", "1.5")], "unit_amount", "parameter_invalid_integer"),
        ("/v1/billing/meter_events", [("event_name", "calls"), ("payload[value]", "1"),
                                      ("timestamp", "soon")], "timestamp",
         "parameter_invalid_integer"),
        ("/v1/checkout/sessions", [("mode", "rental"), ("success_url", "http://t")], "mode", None),
        ("/v1/customers", [("email[]", "a@example.com")], "email", None),
    ],
)  # fmt: skip
def test_a_value_of_the_wrong_type_is_a_400_naming_it(stripe, path, data, param, code):
    error = stripe.error("POST", path, data)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error.get("code") == code


@pytest.mark.parametrize(
    ("path", "data", "param", "code", "message"),
    [
        ("/v1/checkout/sessions", [("mode", "subscription"), ("success_url", "http://t"),
                                   ("line_items[0][price]", "p"), ("line_items[0][colour]", "red")],
         "line_items[0][colour]", "parameter_unknown",
         "Received unknown parameter: line_items[0][colour]"),
        ("/v1/prices", [("product", "pro"), ("currency", "usd"), ("unit_amount", "1"),
                        ("recurring[interval]", "fortnight")], "recurring[interval]", None,
         "Invalid recurring[interval]: must be one of "),
        ("/v1/customers", [("expand", "customer")], "expand", None, "Invalid array"),
        ("/v1/checkout/sessions", [("mode", ""), ("success_url", "http://t")], "mode",
         "parameter_invalid_empty", "You passed an empty string for 'mode'."),
        ("/v1/products/pro", [("active", "yes")], "active", None, "Invalid boolean: yes"),
        ("/v1/billing/meter_events", [("event_name", "calls"), ("payload[value]", "1"),
                                      ("timestamp", "1e3")], "timestamp",
         "parameter_invalid_integer", "Invalid integer: 1e3"),
    ],
)  # fmt: skip
def test_stripes_own_description_decides_what_is_refused(stripe, path, data, param, code, message):
    """Names, enums, shapes and empty strings as the `stripe` package's declarations give them
    (stripe_simulator/stripe_params.json), before the endpoint runs: nothing is written."""
    error = stripe.error("POST", path, data)
    assert (error["param"], error.get("code")) == (param, code)
    assert error["message"].startswith(message)
    assert not stripe.store.all("checkout.session") and not stripe.store.all("price")


def test_a_parameter_stripe_accepts_but_the_simulator_lacks_is_refused_saying_so(stripe):
    error = stripe.error("POST", "/v1/customers", {"email": "a@x.io", "phone": "+1 555 0100"})
    assert (error["param"], error["code"]) == ("phone", "parameter_unknown")
    assert "the Stripe simulator does not implement it" in error["message"]
    assert not stripe.store.all("customer")
    error = stripe.error("GET", "/v2/core/events/evtn_1", {"colour": "red"})
    assert error["message"] == "Received unknown parameter: colour"


def test_a_bad_limit_is_a_400_not_a_500(stripe):
    for limit, message in (("x", "Invalid integer: x"), ("0", "greater than or equal to 1"),
                           ("101", "less than or equal to 100")):  # fmt: skip
        error = stripe.error("GET", "/v1/prices", {"limit": limit})
        assert (error["param"], error["code"]) == ("limit", "parameter_invalid_integer")
        assert message in error["message"]


def test_a_missing_object_names_the_parameter_that_pointed_at_it(stripe):
    error = stripe.error("POST", "/v1/billing_portal/sessions", {"customer": "cus_nope"}, 404)
    assert (error["code"], error["param"]) == ("resource_missing", "customer")
    assert error["message"] == "No such customer: 'cus_nope'"


def test_an_archived_price_is_refused_in_checkout_and_in_a_plan_change(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    stripe.ok("POST", f"/v1/prices/{prices['business']}", {"active": "false"})
    customer = sub["customer"]
    error = stripe.error("POST", "/v1/checkout/sessions", [
        ("mode", "subscription"), ("customer", customer), ("success_url", "http://t/s"),
        ("line_items[0][price]", prices["business"])])  # fmt: skip
    assert error["param"] == "line_items[0][price]" and "inactive" in error["message"]
    item = sub["items"]["data"][0]["id"]
    error = stripe.error("POST", f"/v1/subscriptions/{sub['id']}", [
        ("items[0][id]", item), ("items[0][price]", prices["business"])])  # fmt: skip
    assert error["param"] == "items[0][price]"


def test_a_metered_price_needs_a_meter_that_exists(stripe):
    stripe.ok("POST", "/v1/products", {"id": "pro", "name": "Pro"})
    base = [("product", "pro"), ("currency", "usd"), ("unit_amount_decimal", "0.05"),
            ("recurring[interval]", "month"), ("recurring[usage_type]", "metered")]  # fmt: skip
    error = stripe.error("POST", "/v1/prices", base)
    assert (error["param"], error["code"]) == ("recurring[meter]", "parameter_missing")
    error = stripe.error("POST", "/v1/prices", [*base, ("recurring[meter]", "mtr_nope")], 404)
    assert (error["param"], error["code"]) == ("recurring[meter]", "resource_missing")


def test_malformed_form_bodies_and_unknown_urls_answer_json(stripe):
    status, body, _ = stripe.request("POST", "/v1/customers", [("metadata", "x"),
                                                              ("metadata[a]", "b")])  # fmt: skip
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body, _ = stripe.request("GET", "/v1/nothing")
    assert status == 404 and "Unrecognized request URL" in body["error"]["message"]


def test_an_idempotency_key_replays_the_same_request_and_refuses_a_different_one(stripe):
    key = {"Idempotency-Key": "k1"}
    status, first, headers = stripe.request("POST", "/v1/customers", {"email": "a@x.io"}, key)
    assert status == 200 and "Idempotent-Replayed" not in headers
    status, again, headers = stripe.request("POST", "/v1/customers", {"email": "a@x.io"}, key)
    assert (status, again["id"], headers["Idempotent-Replayed"]) == (200, first["id"], "true")
    status, other, _ = stripe.request("POST", "/v1/customers", {"email": "b@x.io"}, key)
    assert status == 400 and other["error"]["type"] == "idempotency_error"
    assert other["error"]["code"] == "idempotency_error"
    assert len(stripe.store.all("customer")) == 1


def test_a_request_refused_by_validation_is_not_kept_under_its_key(stripe):
    key = {"Idempotency-Key": "k2"}
    status, _, _ = stripe.request("POST", "/v1/customers", {"emial": "a@x.io"}, key)
    assert status == 400
    status, fixed, headers = stripe.request("POST", "/v1/customers", {"email": "a@x.io"}, key)
    assert status == 200 and fixed["email"] == "a@x.io" and "Idempotent-Replayed" not in headers


def test_an_endpoint_that_ran_keeps_its_error_for_replay(stripe):
    key = {"Idempotency-Key": "k3"}
    data = {"customer": "cus_nope"}
    first = stripe.request("POST", "/v1/billing_portal/sessions", data, key)
    again = stripe.request("POST", "/v1/billing_portal/sessions", data, key)
    assert first[0] == again[0] == 404 and again[2]["Idempotent-Replayed"] == "true"


def test_lists_page_with_cursors_newest_first(stripe):
    ids = [stripe.ok("POST", "/v1/customers", {"email": f"{n}@x.io"})["id"] for n in range(5)]
    for n, customer in enumerate(ids):
        stripe.store.objects["customer"][customer]["created"] = 1_700_000_000 + n
    stripe.ok("POST", "/v1/products", {"id": "p", "name": "P"})
    for n in range(5):
        price = stripe.ok("POST", "/v1/prices", [("product", "p"), ("currency", "usd"),
                                                 ("unit_amount", str(n + 1))])  # fmt: skip
        stripe.store.objects["price"][price["id"]]["created"] = 1_700_000_000 + n
    first = stripe.ok("GET", "/v1/prices", {"limit": "2"})
    assert [p["unit_amount"] for p in first["data"]] == [5, 4] and first["has_more"] is True
    second = stripe.ok(
        "GET", "/v1/prices", {"limit": "2", "starting_after": first["data"][-1]["id"]}
    )
    assert [p["unit_amount"] for p in second["data"]] == [3, 2] and second["has_more"] is True
    last = stripe.ok(
        "GET", "/v1/prices", {"limit": "2", "starting_after": second["data"][-1]["id"]}
    )
    assert [p["unit_amount"] for p in last["data"]] == [1] and last["has_more"] is False
    back = stripe.ok("GET", "/v1/prices", {"limit": "2", "ending_before": last["data"][0]["id"]})
    assert [p["unit_amount"] for p in back["data"]] == [3, 2]
    error = stripe.error("GET", "/v1/prices", {"starting_after": "price_nope"}, 404)
    assert (error["code"], error["param"]) == ("resource_missing", "starting_after")


def test_expand_replaces_ids_and_refuses_what_cannot_be_expanded(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    expanded = stripe.ok("GET", f"/v1/subscriptions/{sub['id']}", {"expand[]": "customer"})
    assert expanded["customer"]["object"] == "customer"
    error = stripe.error("GET", f"/v1/subscriptions/{sub['id']}", {"expand[]": "status"})
    assert error["message"] == "This property cannot be expanded (status)."
    error = stripe.error("GET", "/v1/subscriptions", {"expand[]": "customer"})
    assert "You may want to try expanding 'data.customer' instead." in error["message"]
    listed = stripe.ok("GET", "/v1/subscriptions", {"expand[]": "data.customer"})
    assert listed["data"][0]["customer"]["object"] == "customer"
    error = stripe.error("GET", f"/v1/subscriptions/{sub['id']}", {"expand[]": "a.b.c.d.e"})
    assert error["message"] == "You cannot expand more than 4 levels of a property."


@pytest.mark.parametrize("code", ["LAUNCH_20", "SPRING 2026", "été", "a+b"])
def test_a_promotion_code_of_other_characters_than_stripes_is_refused(stripe, code):
    """PromotionCodeCreateParams.code: letters (a-z, A-Z), digits (0-9) and dashes (-)."""
    coupon = stripe.ok("POST", "/v1/coupons", {"percent_off": "10", "duration": "once"})
    promotion = [("promotion[type]", "coupon"), ("promotion[coupon]", coupon["id"])]
    assert stripe.error("POST", "/v1/promotion_codes", [*promotion, ("code", code)])["param"] == (
        "code"
    )
    made = stripe.ok("POST", "/v1/promotion_codes", [*promotion, ("code", "Spring-2026")])
    assert made["code"] == "Spring-2026"


def test_a_preview_names_what_it_previews(stripe):
    """Since 2025-03-31.basil a preview needs a subscription (or items, a schedule): a customer
    alone no longer previews their next invoice across subscriptions."""
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    error = stripe.error("POST", "/v1/invoices/create_preview", {"customer": sub["customer"]})
    assert error["message"].startswith("You must provide at least one of `subscription`")
    preview = stripe.ok("POST", "/v1/invoices/create_preview",
                        {"customer": sub["customer"], "subscription": sub["id"]})  # fmt: skip
    assert preview["amount_due"] == 2900
    other = stripe.ok("POST", "/v1/customers", {"email": "b@example.com"})
    error = stripe.error("POST", "/v1/invoices/create_preview",
                         {"customer": other["id"], "subscription": sub["id"]})  # fmt: skip
    assert error["param"] == "subscription"
    error = stripe.error("POST", "/v1/invoices/create_preview",
                         {"customer": "cus_nope", "subscription": sub["id"]}, 404)  # fmt: skip
    assert error["param"] == "customer"
