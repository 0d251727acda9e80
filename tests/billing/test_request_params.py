"""The parameters the simulator accepts are Stripe's, from Stripe's own API description.

The simulator checks every request against stripe_simulator/stripe_params.json before it runs
(Stripe's rules: unknown names, missing required ones, types, enums, empty strings), then against
what it implements (stripe_simulator/params.py). These tests keep both tied to the reference:
the checked-in file is what the `stripe` package's declarations say today, and every parameter
and value the simulator implements is one Stripe has. That every request the portal's seam sends
passes the check is shown by tests/billing/test_conformance.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from stripe_simulator.app import API
from stripe_simulator.params import RANGE, Spec
from stripe_simulator.shapes import OBJECTS_FILE
from stripe_simulator.stripe_params import PARAMS_FILE, Checker, endpoint
from tests.billing.reference import objects_file_text, params_file_text, reference


def test_the_checked_in_parameters_are_the_current_reference():
    assert PARAMS_FILE.read_text() == params_file_text(), (
        "stripe_simulator/stripe_params.json is stale: .venv/bin/python -m tests.billing.reference"
    )


def test_the_checked_in_object_templates_are_the_current_reference():
    assert OBJECTS_FILE.read_text() == objects_file_text(), (
        "stripe_simulator/stripe_objects.json is stale: .venv/bin/python -m tests.billing.reference"
    )


def differences(spec: Any, schema: dict[str, Any], name: str, checker: Checker) -> list[str]:
    """Where the simulator's spec names a parameter or a value Stripe does not have."""
    schema = checker.resolve(schema)
    options = [checker.resolve(o) for o in schema.get("anyOf", [schema])]
    if isinstance(spec, dict):
        hashes = [o for o in options if o.get("type") == "object"]
        if not hashes:
            return [f"{name or '(top)'}: Stripe has no hash here"]
        found: list[str] = []
        for key, kind in spec.items():
            key = key.lstrip("+")
            full = f"{name}[{key}]" if name else key
            known = [o["properties"][key] for o in hashes if key in o.get("properties", {})]
            extra = [o["additionalProperties"] for o in hashes if o.get("additionalProperties")]
            if known or extra:
                found += differences(kind, (known or extra)[0], full, checker)
            else:
                found.append(f"{full}: Stripe has no such parameter")
        return found
    if isinstance(spec, list):
        arrays = [o for o in options if o.get("type") == "array"]
        if not arrays:
            return [f"{name}: Stripe has no array here"]
        return differences(spec[0], arrays[0]["items"], f"{name}[0]", checker)
    if spec == RANGE:
        kinds = {o.get("type") for o in options}
        bounds = [o for o in options if "gte" in o.get("properties", {})]
        return [] if "number" in kinds and bounds else [f"{name}: Stripe has no range here"]
    if isinstance(spec, tuple):
        allowed = {value for o in options for value in o.get("enum", [])}
        return [f"{name}: Stripe has no value {value!r}" for value in spec if value not in allowed]
    return []


@pytest.mark.parametrize(
    ("method", "pattern", "spec"),
    [(m, p, s) for m, p, s, _ in API if s is not None],
    ids=[endpoint(m, p) for m, p, s, _ in API if s is not None],
)
def test_every_parameter_the_simulator_implements_is_one_stripe_has(
    method: str, pattern: str, spec: Spec
):
    checker = Checker(reference()["definitions"])
    schema = reference()["params"][endpoint(method, pattern)]
    assert differences(spec, schema, "", checker) == []


def test_a_parameter_or_value_stripe_lacks_would_be_reported():
    checker = Checker(reference()["definitions"])
    schema = reference()["params"]["POST /v1/checkout/sessions"]
    spec = {"colour": "string", "+mode": ("subscription", "rental"),
            "line_items": [{"price": "string", "size": "integer"}]}  # fmt: skip
    assert differences(spec, schema, "", checker) == [
        "colour: Stripe has no such parameter",
        "mode: Stripe has no value 'rental'",
        "line_items[0][size]: Stripe has no such parameter",
    ]
