"""List filters as Stripe's API description documents them (each endpoint's ListParams), and
cancelling now with `invoice_now`/`prorate`; a documented parameter the simulator does not
implement is refused by name, never ignored."""

from __future__ import annotations

import pytest

DAY = 86400


def ids(listed: dict) -> list[str]:
    return [o["id"] for o in listed["data"]]


def test_invoices_by_status(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/fail_next_payment")
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/advance")
    paid, opened = (
        stripe.ok("GET", "/v1/invoices", {"status": s})["data"] for s in ("paid", "open")
    )
    assert [i["status"] for i in opened] == ["open"] and [i["status"] for i in paid] == ["paid"]
    assert stripe.ok("GET", "/v1/invoices", {"status": "void"})["data"] == []
    error = stripe.error("GET", "/v1/invoices", {"status": "unpaid"})
    assert error["param"] == "status"


def test_prices_by_product_type_currency_and_recurring(stripe):
    prices = stripe.catalog()
    pro = stripe.ok("GET", "/v1/prices", {"product": "pro"})
    assert set(ids(pro)) == {prices["pro"], prices["overage"]}
    assert ids(stripe.ok("GET", "/v1/prices", {"product": "business"})) == [prices["business"]]
    metered = stripe.ok("GET", "/v1/prices", {"recurring[usage_type]": "metered"})
    assert ids(metered) == [prices["overage"]]
    one_time = stripe.ok("POST", "/v1/prices", {"product": "pro", "currency": "usd",
                                                "unit_amount": "500"})  # fmt: skip
    assert ids(stripe.ok("GET", "/v1/prices", {"type": "one_time"})) == [one_time["id"]]
    assert stripe.ok("GET", "/v1/prices", {"currency": "eur"})["data"] == []
    assert len(stripe.ok("GET", "/v1/prices", {"currency": "USD"})["data"]) == 4


def test_created_ranges(stripe):
    for n in range(3):
        customer = stripe.ok("POST", "/v1/customers", {"email": f"{n}@x.io"})
        stripe.ok("POST", "/v1/products", {"id": f"p{n}", "name": "P"})
        price = stripe.ok("POST", "/v1/prices", {"product": f"p{n}", "currency": "usd",
                                                 "unit_amount": "100"})  # fmt: skip
        stripe.store.objects["price"][price["id"]]["created"] = 1_700_000_000 + n * DAY
        stripe.store.objects["customer"][customer["id"]]["created"] = 1_700_000_000
    later = stripe.ok("GET", "/v1/prices", {"created[gte]": str(1_700_000_000 + DAY)})
    assert len(later["data"]) == 2
    between = stripe.ok(
        "GET",
        "/v1/prices",
        [("created[gt]", "1700000000"), ("created[lt]", str(1_700_000_000 + 2 * DAY))],
    )
    assert len(between["data"]) == 1
    assert len(stripe.ok("GET", "/v1/prices", {"created": "1700000000"})["data"]) == 1
    error = stripe.error("GET", "/v1/prices", {"created[gte]": "soon"})
    assert error["param"] == "created[gte]"


def test_meters_by_status(stripe):
    stripe.catalog()
    assert stripe.ok("GET", "/v1/billing/meters", {"status": "inactive"})["data"] == []
    assert len(stripe.ok("GET", "/v1/billing/meters", {"status": "active"})["data"]) == 1


def test_events_by_type_a_wildcard_or_types(stripe):
    prices = stripe.catalog()
    stripe.subscribe(prices["pro"])
    paid = stripe.ok("GET", "/v1/events", {"type": "invoice.paid"})["data"]
    assert [e["type"] for e in paid] == ["invoice.paid"]
    invoices = stripe.ok("GET", "/v1/events", {"type": "invoice.*", "limit": "100"})["data"]
    assert {e["type"] for e in invoices} == {"invoice.created", "invoice.finalized",
                                             "invoice.paid"}  # fmt: skip
    both = stripe.ok(
        "GET",
        "/v1/events",
        [("types[]", "invoice.paid"), ("types[]", "checkout.session.completed")],
    )
    assert {e["type"] for e in both["data"]} == {"invoice.paid", "checkout.session.completed"}
    error = stripe.error("GET", "/v1/events", [("type", "invoice.paid"),
                                               ("types[]", "invoice.paid")])  # fmt: skip
    assert error["param"] == "types"


def test_subscriptions_by_price_and_status(stripe):
    prices = stripe.catalog()
    pro = stripe.subscribe(prices["pro"])
    business = stripe.subscribe(prices["business"])
    assert ids(stripe.ok("GET", "/v1/subscriptions", {"price": prices["pro"]})) == [pro["id"]]
    stripe.ok("DELETE", f"/v1/subscriptions/{pro['id']}")
    # No status: those not canceled; `ended` and `canceled`: the canceled one; `all`: both.
    assert ids(stripe.ok("GET", "/v1/subscriptions")) == [business["id"]]
    assert ids(stripe.ok("GET", "/v1/subscriptions", {"status": "ended"})) == [pro["id"]]
    assert ids(stripe.ok("GET", "/v1/subscriptions", {"status": "canceled"})) == [pro["id"]]
    assert len(stripe.ok("GET", "/v1/subscriptions", {"status": "all"})["data"]) == 2
    on_tax = stripe.ok("GET", "/v1/subscriptions", {"automatic_tax[enabled]": "true"})
    assert on_tax["data"] == []


def test_invoice_items_pending_or_invoiced(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/backdate", {"seconds": str(10 * DAY)})
    item = sub["items"]["data"][0]["id"]
    stripe.ok("POST", f"/v1/subscriptions/{sub['id']}", [
        ("items[0][id]", item), ("items[0][price]", prices["business"])])  # fmt: skip
    assert len(stripe.ok("GET", "/v1/invoiceitems", {"pending": "true"})["data"]) == 2
    assert stripe.ok("GET", "/v1/invoiceitems", {"pending": "false"})["data"] == []
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/advance")
    assert stripe.ok("GET", "/v1/invoiceitems", {"pending": "true"})["data"] == []
    invoiced = stripe.ok("GET", "/v1/invoiceitems", {"pending": "false"})["data"]
    assert len(invoiced) == 2 and all(ii["invoice"] for ii in invoiced)
    on_it = stripe.ok("GET", "/v1/invoiceitems", {"invoice": invoiced[0]["invoice"]})
    assert len(on_it["data"]) == 2


def test_cancel_now_with_invoice_now_and_prorate_makes_a_final_invoice(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"], extra=[("line_items[1][price]", prices["overage"])])
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/backdate", {"seconds": str(15 * DAY)})
    stripe.ok("POST", "/v1/billing/meter_events", {
        "event_name": "calls", "payload[value]": "100",
        "payload[stripe_customer_id]": sub["customer"]})  # fmt: skip
    canceled = stripe.ok("DELETE", f"/v1/subscriptions/{sub['id']}",
                         {"invoice_now": "true", "prorate": "true"})  # fmt: skip
    assert canceled["status"] == "canceled"
    final = stripe.invoices(sub["id"])[0]
    assert canceled["latest_invoice"] == final["id"] and final["status"] == "paid"
    credit, usage = sorted(line["amount"] for line in final["lines"]["data"])
    assert usage == 5  # 100 calls at 0.05
    assert -2900 < credit < 0 and final["total"] == credit + usage
    assert stripe.ok("GET", "/v1/invoiceitems", {"pending": "true"})["data"] == []


def test_cancel_now_alone_invoices_nothing_and_credits_nothing(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    stripe.ok("DELETE", f"/v1/subscriptions/{sub['id']}")
    assert len(stripe.invoices(sub["id"])) == 1
    assert stripe.ok("GET", "/v1/invoiceitems")["data"] == []


def test_prorate_alone_leaves_the_credit_pending(stripe):
    prices = stripe.catalog()
    sub = stripe.subscribe(prices["pro"])
    stripe.ok("POST", f"/_sim/subscriptions/{sub['id']}/backdate", {"seconds": str(15 * DAY)})
    stripe.ok("DELETE", f"/v1/subscriptions/{sub['id']}", {"prorate": "true"})
    [credit] = stripe.ok("GET", "/v1/invoiceitems", {"pending": "true"})["data"]
    assert credit["amount"] < 0 and credit["description"].startswith("Unused time on Pro")


@pytest.mark.parametrize(
    ("method", "path", "data", "param"),
    [
        ("GET", "/v1/subscriptions", {"test_clock": "clock_1"}, "test_clock"),
        ("GET", "/v1/events", {"delivery_success": "true"}, "delivery_success"),
        ("GET", "/v1/invoices", {"customer_account": "acct_1"}, "customer_account"),
        ("DELETE", "/v1/subscriptions/sub_x", {"cancellation_details[comment]": "x"},
         "cancellation_details"),
        ("POST", "/v1/billing/meters", [("display_name", "C"), ("event_name", "c"),
                                        ("default_aggregation[formula]", "count")],
         "default_aggregation[formula]"),
        ("POST", "/v1/subscription_schedules/sub_sched_x", {"end_behavior": "cancel"},
         "end_behavior"),
    ],
)  # fmt: skip
def test_a_documented_parameter_the_simulator_lacks_is_refused_by_name(
    stripe, method, path, data, param
):
    error = stripe.error(method, path, data)
    assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_values_the_simulator_does_not_implement_are_refused(stripe):
    prices = stripe.catalog()
    error = stripe.error("POST", "/v1/prices", [
        ("product", "pro"), ("currency", "usd"), ("unit_amount", "100"),
        ("recurring[interval]", "month"), ("recurring[interval_count]", "3")])  # fmt: skip
    assert error["param"] == "recurring[interval_count]"
    assert "does not implement" in error["message"]
    error = stripe.error("POST", "/v1/billing/meters", [
        ("display_name", "C"), ("event_name", "c"), ("default_aggregation[formula]", "sum"),
        ("customer_mapping[type]", "by_id"),
        ("customer_mapping[event_payload_key]", "customer")])  # fmt: skip
    assert error["param"] == "customer_mapping[event_payload_key]"
    sub = stripe.subscribe(prices["pro"])
    item = sub["items"]["data"][0]["id"]
    error = stripe.error("POST", f"/v1/subscriptions/{sub['id']}", [
        ("items[0][id]", item), ("items[0][quantity]", "3")])  # fmt: skip
    assert error["param"] == "items[0][quantity]"
    error = stripe.error("POST", "/v1/billing_portal/sessions", {
        "customer": sub["customer"], "configuration": "bpc_other"}, 404)  # fmt: skip
    assert error["param"] == "configuration"


def test_parameters_once_ignored_now_take_effect(stripe):
    customer = stripe.ok("POST", "/v1/customers", {"email": "a@x.io", "description": "VIP"})
    assert customer["description"] == "VIP"
    stripe.ok("POST", "/v1/products", {"id": "p", "name": "P"})
    archived = stripe.ok(
        "POST",
        "/v1/prices",
        {"product": "p", "currency": "usd", "unit_amount": "100", "active": "false"},
    )
    assert archived["active"] is False
    keyed = stripe.ok("POST", f"/v1/prices/{archived['id']}", {"lookup_key": "basic"})
    assert keyed["lookup_key"] == "basic"
    other = stripe.ok("POST", "/v1/prices", {"product": "p", "currency": "usd",
                                             "unit_amount": "200"})  # fmt: skip
    error = stripe.error("POST", f"/v1/prices/{other['id']}", {"lookup_key": "basic"})
    assert error["code"] == "lookup_key_exists"
    moved = stripe.ok("POST", f"/v1/prices/{other['id']}",
                      {"lookup_key": "basic", "transfer_lookup_key": "true"})  # fmt: skip
    assert moved["lookup_key"] == "basic"
    assert stripe.ok("GET", f"/v1/prices/{archived['id']}")["lookup_key"] is None


def test_every_filter_a_list_endpoint_accepts_is_applied():
    """Each list endpoint's spec names only filters lists.py applies: none accepted and ignored."""
    from stripe_simulator.app import API
    from stripe_simulator.lists import FILTERS, PAGING

    kinds = {
        "/v1/prices": "price",
        "/v1/promotion_codes": "promotion_code",
        "/v1/billing/meters": "billing.meter",
        "/v1/subscriptions": "subscription",
        "/v1/invoices": "invoice",
        "/v1/invoiceitems": "invoiceitem",
        "/v1/events": "event",
    }
    listed = {pattern: spec for method, pattern, spec, _ in API
              if method == "GET" and pattern in kinds}  # fmt: skip
    assert set(listed) == set(kinds)
    for pattern, spec in listed.items():
        accepted = {name.lstrip("+") for name in spec} - PAGING
        assert accepted == set(FILTERS[kinds[pattern]]), pattern
