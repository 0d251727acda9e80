"""No answer carries a value the simulator did not decide: every field it does not model has the
value Stripe gives when that feature is not used (null, 0, false, an empty list, or the default
object), never a sample value of the fixtures its objects were shaped from (fixtures3.json: a
shipping cost of 1,555,417,355, `"message"` as a custom text, 1234567890 as a date)."""

from __future__ import annotations

from typing import Any

from stripe_simulator.shapes import fixtures, shape
from tests.billing.reference import mismatches, reference, resource_ref

DAY = 86400
# Values the simulator sets on purpose that a fixture happens to share (its currency, the test
# card's brand, Stripe's documented defaults), by field name.
CHOSEN: dict[str, set[object]] = {
    "currency": {"usd"}, "brand": {"visa"}, "display_brand": {"visa"}, "available": {"visa"},
    "funding": {"credit"}, "last4": {"4242"}, "country": {"US"}, "account_country": {"US"},
    "source_currency": {"usd"}, "interval": {"month"}, "quantity": {1}, "interval_count": {1},
    "quantity_decimal": {"1"}, "next_invoice_sequence": {1}, "attempt_count": {1},
    "payment_method_types": {"card"}, "cvc_check": {"pass"},
    "event_payload_key": {"value", "stripe_customer_id"},
}  # fmt: skip
# Hashes the simulator sets that a fixture happens to share (a monthly licensed price's
# `recurring`, the request of an event no API request caused).
CHOSEN_HASHES = {
    "event.request", "payment_method.card.checks", "payment_method.card.networks",
    "payment_method.card.three_d_secure_usage", "price.recurring",
}  # fmt: skip


def play_every_flow(stripe) -> None:
    """Every kind of object the simulator answers with, at several points of its life."""
    prices = stripe.catalog()
    stripe.promotion_code("once")
    customer = stripe.ok("POST", "/v1/customers", {"email": "a@example.com", "name": "A"})
    session = stripe.ok("POST", "/v1/checkout/sessions", [
        ("mode", "subscription"), ("customer", customer["id"]), ("success_url", "http://t/s"),
        ("line_items[0][price]", prices["pro"]), ("line_items[0][quantity]", "1"),
        ("line_items[1][price]", prices["overage"]), ("allow_promotion_codes", "true"),
        ("automatic_tax[enabled]", "true"), ("customer_update[address]", "auto"),
        ("billing_address_collection", "required")])  # fmt: skip
    stripe.ok("GET", f"/v1/checkout/sessions/{session['id']}", {"expand[]": "line_items"})
    paid = stripe.ok("POST", f"/_sim/checkout/{session['id']}/pay",
                     {"card": "4242424242424242", "promotion_code": "launch"})  # fmt: skip
    stripe.ok("GET", f"/v1/checkout/sessions/{session['id']}", {"expand[]": "line_items"})
    sub_id = paid["subscription"]
    stripe.ok("POST", "/v1/billing/meter_events", {
        "event_name": "calls", "payload[value]": "12",
        "payload[stripe_customer_id]": customer["id"]})  # fmt: skip
    stripe.ok("POST", "/v1/invoices/create_preview", {"subscription": sub_id})
    stripe.ok("POST", f"/_sim/subscriptions/{sub_id}/backdate", {"seconds": str(10 * DAY)})
    sub = stripe.ok("GET", f"/v1/subscriptions/{sub_id}", [
        ("expand[]", "discounts"), ("expand[]", "latest_invoice"),
        ("expand[]", "default_payment_method")])  # fmt: skip
    item = next(i for i in sub["items"]["data"] if i["price"]["id"] == prices["pro"])
    stripe.ok("POST", f"/v1/subscriptions/{sub_id}", [
        ("items[0][id]", item["id"]), ("items[0][price]", prices["business"])])  # fmt: skip
    stripe.ok("GET", "/v1/invoiceitems", {"pending": "true"})
    schedule = stripe.ok("POST", "/v1/subscription_schedules", {"from_subscription": sub_id})
    start, end = item["current_period_start"], item["current_period_end"]
    stripe.ok("POST", f"/v1/subscription_schedules/{schedule['id']}", [
        ("end_behavior", "release"),
        ("phases[0][items][0][price]", prices["business"]),
        ("phases[0][items][1][price]", prices["overage"]),
        ("phases[0][start_date]", str(start)), ("phases[0][end_date]", str(end)),
        ("phases[1][items][0][price]", prices["pro"]),
        ("phases[1][items][1][price]", prices["overage"]),
        ("phases[1][duration][interval]", "month")])  # fmt: skip
    stripe.ok("POST", f"/_sim/subscriptions/{sub_id}/fail_next_payment")
    stripe.ok("POST", f"/_sim/subscriptions/{sub_id}/advance")
    stripe.ok("POST", f"/_sim/subscriptions/{sub_id}/pay")
    stripe.ok("GET", "/v1/invoices", {"customer": customer["id"]})
    stripe.ok("POST", "/v1/billing_portal/sessions", {"customer": customer["id"]})
    stripe.ok("DELETE", f"/v1/subscriptions/{sub_id}", {"invoice_now": "true", "prorate": "true"})
    trial = stripe.subscribe(prices["pro"], trial_days=14)
    stripe.ok("GET", f"/v1/subscriptions/{trial['id']}")
    pack = stripe.ok("POST", "/v1/prices", [("product", "pro"), ("currency", "usd"),
                                            ("unit_amount", "500")])  # fmt: skip
    once = stripe.ok("POST", "/v1/checkout/sessions", [
        ("mode", "payment"), ("customer", customer["id"]), ("success_url", "http://t/s"),
        ("line_items[0][price]", pack["id"]), ("line_items[0][quantity]", "2"),
        ("payment_intent_data[setup_future_usage]", "off_session")])  # fmt: skip
    done = stripe.ok("POST", f"/_sim/checkout/{once['id']}/pay", {"card": "4242424242424242"})
    intent = stripe.ok("GET", f"/v1/payment_intents/{done['payment_intent']}")
    stripe.ok("POST", "/v1/payment_intents", {
        "amount": "500", "currency": "usd", "customer": customer["id"], "confirm": "true",
        "off_session": "true", "payment_method": intent["payment_method"]})  # fmt: skip
    stripe.ok("GET", "/v1/events", {"limit": "100"})
    stripe.ok("GET", "/v1/billing/meters")
    stripe.ok("GET", "/v1/promotion_codes")
    stripe.ok("GET", "/v1/coupons/launch")
    stripe.ok("GET", "/v1/products/pro")


def answers(stripe) -> list[dict]:
    found = [exchange["body"] for exchange in stripe.app.exchanges if exchange["status"] == 200]
    found += [event for event in stripe.store.events if event["object"] == "event"]
    return found


def samples(fixture, path: tuple[str, ...]) -> list:
    """The fixture's values at `path` (any element of an array)."""
    nodes = [fixture]
    for part in path:
        nodes = [
            child
            for node in nodes
            for child in (node if isinstance(node, list) else [node])
            if isinstance(child, dict) and part in child
            for child in [child[part]]
        ]
    return [v for node in nodes for v in (node if isinstance(node, list) else [node])]


def _options(schema: dict) -> list[dict]:
    while "$ref" in schema:
        schema = reference()["definitions"][schema["$ref"]]
    if "anyOf" in schema:
        return [option for member in schema["anyOf"] for option in _options(member)]
    if schema.get("type") == "array":
        return _options(schema["items"])
    return [schema]


def is_enum(kind: str, path: tuple[str, ...], value) -> bool:
    """Whether Stripe's description lists `value` among the few a field can take (a status, a
    `collection_method`): a choice, not a sample."""
    options = _options({"$ref": reference()["resources"][kind]})
    for part in path:
        options = [
            field
            for option in options
            if part in option.get("properties", {})
            for field in _options(option["properties"][part])
        ]
    return any(value in option.get("enum", []) for option in options)


def default(kind: str, path: tuple[str, ...]) -> Any:
    """The value of a field of a freshly shaped `kind` object (None through an array)."""
    node: Any = shape(kind)
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node


def leftovers(value, kind: str, path: tuple[str, ...], found: list[str]) -> None:
    if isinstance(value, dict):
        if isinstance(value.get("object"), str) and value["object"] in fixtures():
            kind, path = value["object"], ()
        elif (
            kind
            and value
            and value in samples(fixtures()[kind], path)
            and value != default(kind, path)
            and f"{kind}.{'.'.join(path)}" not in CHOSEN_HASHES
        ):  # a whole hash of the fixture's (`billing_thresholds` set though none are used)
            found.append(f"{kind}.{'.'.join(path)} = {value!r}")
        for name, child in value.items():
            leftovers(child, kind, (*path, name), found)
    elif isinstance(value, list):
        for child in value:
            leftovers(child, kind, path, found)
    elif (
        kind
        and value not in (None, True, False, 0, "")
        and value not in CHOSEN.get(path[-1], set())
        and value in samples(fixtures()[kind], path)
        and not is_enum(kind, path, value)
    ):
        found.append(f"{kind}.{'.'.join(path)} = {value!r}")


def test_no_answer_carries_a_fixture_sample_value(stripe):
    play_every_flow(stripe)
    found: list[str] = []
    for answer in answers(stripe):
        leftovers(answer, "", (), found)
    kinds = {a.get("object") for a in answers(stripe)}
    assert "\n".join(sorted(set(found))) == ""
    assert kinds >= {"checkout.session", "subscription", "invoice", "list", "event"}


def test_every_answer_of_those_flows_matches_stripes_description(stripe):
    """The same answers (expanded ones too) against the reference: the defaults above are
    values Stripe can send (tests/billing/test_conformance.py checks the portal's flows)."""
    play_every_flow(stripe)
    found: list[str] = []
    for answer in answers(stripe):
        objects = answer["data"] if answer.get("object") == "list" else [answer]
        for obj in objects:
            if obj.get("object") in reference()["resources"]:
                found += mismatches(obj, resource_ref(obj["object"]), obj["object"])
    assert "\n".join(sorted(set(found))) == ""
