"""What each endpoint accepts, checked before it runs, with Stripe's error codes.

Stripe's own rules come first (stripe_params.py, from Stripe's API description); this spec then
says what the simulator implements of what Stripe accepts. It maps a parameter to its type:
STRING, INTEGER, BOOLEAN, DECIMAL, METADATA (a hash of strings), a tuple of allowed values, a
nested spec (a hash), a one-element list (an array of that), or RANGE (a timestamp or its
bounds, as list filters take `created`). A name starting with "+" is
required. A parameter Stripe accepts but the simulator does not implement is refused, saying
so: the simulator never silently ignores what it cannot do. A test keeps every name and value
here one that Stripe has (tests/billing/test_request_params.py).
"""

from __future__ import annotations

import re
from typing import Any

from stripe_simulator.errors import invalid

STRING, INTEGER, BOOLEAN, DECIMAL, METADATA = "string", "integer", "boolean", "decimal", "metadata"
# A list filter on a timestamp: one (`created=...`) or bounds (`created[gte]=...`).
RANGE = "range"
Spec = dict[str, Any]
BOUNDS = ("gt", "gte", "lt", "lte")

EXPAND: Spec = {"expand": [STRING]}
LIST: Spec = {"limit": INTEGER, "starting_after": STRING, "ending_before": STRING, **EXPAND}


def check(spec: Spec, params: dict[str, Any], prefix: str = "") -> None:
    known = {name.lstrip("+"): kind for name, kind in spec.items()}
    for name, value in params.items():
        full = f"{prefix}[{name}]" if prefix else name
        if name not in known:
            raise invalid(
                full,
                f"Received unknown parameter: {full} (Stripe accepts it; the Stripe simulator "
                "does not implement it)",
                "parameter_unknown",
            )
        _check_value(known[name], value, full)
    for name in spec:
        if name.startswith("+") and name[1:] not in params:
            full = f"{prefix}[{name[1:]}]" if prefix else name[1:]
            raise invalid(full, f"Missing required param: {full}.", "parameter_missing")


def _check_value(kind: Any, value: Any, name: str) -> None:
    if value == "" and kind not in (STRING, METADATA):
        raise invalid(
            name,
            f"You passed an empty string for '{name}'. We assume empty values are an attempt to "
            f"unset a parameter; however '{name}' cannot be unset. You should remove '{name}' "
            "from your request or supply a non-empty value.",
            "parameter_invalid_empty",
        )
    if kind == RANGE:
        if isinstance(value, dict):
            check({bound: INTEGER for bound in BOUNDS}, value, name)
        else:
            _check_value(INTEGER, value, name)
    elif isinstance(kind, dict):
        if not isinstance(value, dict):
            raise invalid(name, f"Invalid object: {name} must be a hash")
        check(kind, value, name)
    elif isinstance(kind, list):
        if not isinstance(value, list):
            raise invalid(name, f"Invalid array: {name} must be an array")
        for index, item in enumerate(value):
            _check_value(kind[0], item, f"{name}[{index}]")
    elif isinstance(kind, tuple):
        if value not in kind:
            allowed = ", ".join(kind[:-1]) + f", or {kind[-1]}" if len(kind) > 1 else kind[0]
            raise invalid(name, f"Invalid {name}: must be one of {allowed}")
    elif kind == METADATA:
        if value != "" and not (
            isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        ):
            raise invalid(name, f"Invalid hash: {name} must be a hash of strings")
    elif not isinstance(value, str):
        raise invalid(name, f"Invalid {kind}: {name} must be a {kind}")
    elif kind == INTEGER and not re.fullmatch(r"-?\d{1,18}", value):
        raise invalid(name, f"Invalid integer: {value}", "parameter_invalid_integer")
    elif kind == BOOLEAN and value not in ("true", "false"):
        raise invalid(name, f"Invalid boolean: {value}")
    elif kind == DECIMAL and not re.fullmatch(r"-?\d{1,12}(\.\d{1,12})?", value):
        raise invalid(name, f"Invalid decimal: {value}")


def limit(params: dict[str, Any]) -> int:
    value = int(params.get("limit") or 10)
    if not 1 <= value <= 100:
        bound = "greater than or equal to 1" if value < 1 else "less than or equal to 100"
        raise invalid("limit", f"This value must be {bound}.", "parameter_invalid_integer")
    return value
