"""The simulator in process: its WSGI app called directly, no server, no portal."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from stripe_simulator.app import SimulatorApp
from tests.billing.in_process import wsgi_call


class Stripe:
    def __init__(self) -> None:
        self.app = SimulatorApp("http://sim.test", "", "whsec_test")
        self.store = self.app.store

    def request(self, method: str, path: str, data=(), headers=None):
        """(status, json body, headers); `data` is a list of (key, value) form pairs."""
        form = urlencode(list(dict(data).items()) if isinstance(data, dict) else list(data))
        in_query = method in ("GET", "DELETE")
        url = f"http://sim.test{path}" + (f"?{form}" if in_query and form else "")
        sent = {"Authorization": "Bearer sk_test_x", **(headers or {})}
        body = b"" if in_query else form.encode()
        content, status, answered = wsgi_call(self.app, method, url, sent, body)
        return status, json.loads(content), dict(answered)

    def ok(self, method: str, path: str, data=(), headers=None) -> dict:
        status, body, _ = self.request(method, path, data, headers)
        assert status == 200, body
        return body

    def error(self, method: str, path: str, data=(), status: int = 400) -> dict:
        got, body, _ = self.request(method, path, data)
        assert got == status, body
        return body["error"]

    def events(self, event_type: str | None = None) -> list[dict]:
        return [e for e in self.store.events if event_type in (None, e["type"])]

    # A small catalog and a customer subscribed through Checkout, as the portal does it.
    def catalog(self) -> dict:
        meter = self.ok("POST", "/v1/billing/meters", [
            ("display_name", "Calls"), ("event_name", "calls"),
            ("default_aggregation[formula]", "sum")])  # fmt: skip
        prices = {}
        for name, cents in (("business", "19900"), ("pro", "2900")):
            self.ok("POST", "/v1/products", {"id": name, "name": name.title()})
            prices[name] = self.ok("POST", "/v1/prices", [
                ("product", name), ("currency", "usd"), ("unit_amount_decimal", cents),
                ("recurring[interval]", "month"), ("lookup_key", name)])["id"]  # fmt: skip
        prices["overage"] = self.ok("POST", "/v1/prices", [
            ("product", "pro"), ("currency", "usd"), ("unit_amount_decimal", "0.05"),
            ("recurring[interval]", "month"), ("recurring[usage_type]", "metered"),
            ("recurring[meter]", meter["id"])])["id"]  # fmt: skip
        return prices

    def promotion_code(self, duration: str) -> None:
        """Coupon `launch` (20% off for `duration`) and its promotion code LAUNCH."""
        self.ok("POST", "/v1/coupons", {"id": "launch", "percent_off": "20", "duration": duration})
        self.ok(
            "POST",
            "/v1/promotion_codes",
            [("promotion[type]", "coupon"), ("promotion[coupon]", "launch"), ("code", "LAUNCH")],
        )

    def subscribe(self, price: str, trial_days: int = 0, extra=()) -> dict:
        customer = self.ok("POST", "/v1/customers", {"email": "a@example.com"})
        data = [("mode", "subscription"), ("customer", customer["id"]),
                ("line_items[0][price]", price), ("line_items[0][quantity]", "1"),
                ("success_url", "http://t/s"), *extra]  # fmt: skip
        if trial_days:
            data.append(("subscription_data[trial_period_days]", str(trial_days)))
        session = self.ok("POST", "/v1/checkout/sessions", data)
        paid = self.ok("POST", f"/_sim/checkout/{session['id']}/pay", {"card": "4242424242424242"})
        return self.ok("GET", f"/v1/subscriptions/{paid['subscription']}")

    def invoices(self, sub_id: str) -> list[dict]:
        return self.ok("GET", "/v1/invoices", {"subscription": sub_id})["data"]


@pytest.fixture
def stripe() -> Stripe:
    return Stripe()
