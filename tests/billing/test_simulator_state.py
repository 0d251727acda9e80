from __future__ import annotations

from stripe_simulator.app import SimulatorApp


def test_it_keeps_its_objects_across_restarts_when_given_a_state_file(tmp_path):
    state = tmp_path / "stripe-simulator.json"
    environ = {"HTTP_AUTHORIZATION": "Bearer sk_test_x"}
    first = SimulatorApp("http://127.0.0.1:1", "", "whsec_x", state)
    status, customer, _ = first.api("POST", "/v1/customers", {"email": "a@example.com"}, environ)
    assert status == 200 and state.exists()
    second = SimulatorApp("http://127.0.0.1:1", "", "whsec_x", state)
    status, again, _ = second.api("GET", f"/v1/customers/{customer['id']}", {}, environ)
    assert status == 200 and again["email"] == "a@example.com"
