"""The simulator's fixtures, errors and idempotency (its shapes: test_conformance.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from billing import gateway

# The project's shared copy of Stripe's fixture set, beside the checkout (../shared/stripe/).
SHARED = Path("/work/shared/stripe/fixtures3.json")


def fixtures() -> dict:
    from stripe_simulator.shapes import fixtures as vendored

    return vendored()


def test_it_vendors_the_shared_fixtures_unchanged():
    if not SHARED.exists():
        pytest.skip("the shared fixtures are not on this machine")
    assert fixtures() == json.loads(SHARED.read_text())["resources"]


def test_it_answers_errors_in_stripes_shape(sim):
    response = requests.get(
        f"{sim.url}/v1/customers/cus_nope", headers={"Authorization": "Bearer sk_test_x"}, timeout=5
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"
    unauthorized = requests.get(f"{sim.url}/v1/customers/cus_nope", timeout=5)
    assert unauthorized.status_code == 401


def test_it_honours_idempotency_keys(db, sim):
    first = gateway.create_customer("a@example.com", "A", {}, key="same-key")
    second = gateway.create_customer("a@example.com", "A", {}, key="same-key")
    assert first["id"] == second["id"]
    third = gateway.create_customer("a@example.com", "A", {}, key="other-key")
    assert third["id"] != first["id"]
