"""The in-process transport is the simulator over HTTP minus the socket: the same requests get
the same answers from `manage.py stripe_simulator` and from the app called in this process."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import stripe

from billing import gateway
from tests.billing.in_process import InProcessTransport

REQUESTS = [
    ("GET", "/v1/customers/cus_nope", ""),
    ("POST", "/v1/customers", urlencode({"email": "a@example.com", "colour": "red"})),
    ("POST", "/v1/checkout/sessions", urlencode({"mode": "", "success_url": "http://t"})),
    ("GET", "/v1/prices", urlencode({"limit": "0"})),
    ("GET", "/v1/nothing", ""),
]


@pytest.mark.simulator_process
@pytest.mark.parametrize(("method", "path", "form"), REQUESTS)
def test_it_answers_as_the_simulators_own_process(sim, _simulator_in_process, method, path, form):
    headers = {"Authorization": "Bearer sk_test_x", "Stripe-Version": gateway.STRIPE_API_VERSION}
    query, body = (form, None) if method == "GET" else ("", form)
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = f"{path}?{query}" if query else path
    over_http = stripe.RequestsClient().request(method, f"{sim.url}{url}", headers, body)
    in_process = InProcessTransport(_simulator_in_process.app, _simulator_in_process.url)
    here = in_process.request(method, f"{_simulator_in_process.url}{url}", headers, body)
    assert (here[1], json.loads(here[0])) == (over_http[1], json.loads(over_http[0]))
    assert here[1] >= 400  # each is refused, so neither store changes
    for name in ("Content-Type", "Stripe-Simulator"):
        assert here[2][name] == over_http[2][name]


def test_the_seam_reaches_the_simulator_without_a_socket(sim, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the seam went out over the network")

    monkeypatch.setattr(sim.transport.network, "request", no_network)
    customer = gateway.create_customer("a@example.com", "A", {"account": "1"}, key="k-1")
    assert gateway.create_customer("a@example.com", "A", {"account": "1"}, key="k-1") == customer
    assert sim.app.store.get("customer", customer["id"])["email"] == "a@example.com"
