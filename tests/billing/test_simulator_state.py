from __future__ import annotations

import json
import threading

from stripe_simulator.app import SimulatorApp
from stripe_simulator.webhooks import Deliverer

ENVIRON = {"HTTP_AUTHORIZATION": "Bearer sk_test_x"}


def test_it_keeps_its_objects_across_restarts_when_given_a_state_file(tmp_path):
    state = tmp_path / "stripe-simulator.json"
    environ = {"HTTP_AUTHORIZATION": "Bearer sk_test_x"}
    first = SimulatorApp("http://127.0.0.1:1", "", "whsec_x", state)
    status, customer, _ = first.api("POST", "/v1/customers", {"email": "a@example.com"}, environ)
    assert status == 200 and state.exists()
    second = SimulatorApp("http://127.0.0.1:1", "", "whsec_x", state)
    status, again, _ = second.api("GET", f"/v1/customers/{customer['id']}", {}, environ)
    assert status == 200 and again["email"] == "a@example.com"


def test_it_reads_the_state_file_of_the_previous_release(tmp_path):
    state = tmp_path / "stripe-simulator.json"
    customer = {"id": "cus_1", "object": "customer", "email": "a@example.com", "created": 1}
    request = {"object": "_request", "line_items": [], "subscription_data": {}}
    state.write_text(json.dumps({
        "objects": {"cus_1": customer, "cs_test_1:request": request},
        "events": [], "meter_events": {}, "fail_next_payment": [], "invoice_sequence": 3,
    }))  # fmt: skip
    app = SimulatorApp("http://127.0.0.1:1", "", "whsec_x", state)
    status, again, _ = app.api("GET", "/v1/customers/cus_1", {}, ENVIRON)
    assert status == 200 and again["email"] == "a@example.com"
    assert app.store.get("_checkout_request", "cs_test_1")["subscription_data"] == {}
    assert app.store.invoice_sequence == 3


def test_it_runs_no_delivery_thread_until_it_has_a_webhook_url_to_post_to():
    def webhook_threads() -> int:
        return sum(thread.name == "webhooks" for thread in threading.enumerate())

    before = webhook_threads()
    deliverer = Deliverer("", "whsec_x")  # as the tests' simulators: events only recorded
    deliverer.enqueue({"id": "evt_1", "type": "customer.created"})
    assert webhook_threads() == before and deliverer.queue == []
    deliverer.url = "http://127.0.0.1:1/hook"  # (nothing listens: the attempt fails)
    deliverer.enqueue({"id": "evt_2", "type": "customer.created"})
    assert webhook_threads() == before + 1
    deliverer.url = ""  # its retries are dropped
