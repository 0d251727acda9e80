"""Response objects shaped from Stripe's own published fixtures (fixtures3.json, MIT licence).

Every object the simulator returns starts as a deep copy of the fixture of its type, then gets
its real values: so it has exactly Stripe's fields and types, and the SDK parses it as it would
parse Stripe's answer. Fields the simulator has no meaning for keep the fixture's example value,
or None where the fixture's example would mislead (ids of things that do not exist here).
"""

from __future__ import annotations

import copy
import json
import secrets
import string
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES_PATH = Path(__file__).with_name("fixtures3.json")
_ALPHABET = string.ascii_letters + string.digits


@cache
def fixtures() -> dict[str, dict[str, Any]]:
    resources: dict[str, dict[str, Any]] = json.loads(FIXTURES_PATH.read_text())["resources"]
    return resources


def new_id(prefix: str) -> str:
    return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(24))}"


def shape(kind: str, **values: Any) -> dict[str, Any]:
    """A `kind` object (e.g. "checkout.session") with Stripe's fields, filled with `values`."""
    obj = copy.deepcopy(fixtures()[kind])
    unknown = set(values) - set(obj)
    if unknown:
        raise KeyError(f"{kind} has no fields {sorted(unknown)}")
    obj.update(values)
    return obj


def list_object(data: list[dict[str, Any]], url: str, has_more: bool = False) -> dict[str, Any]:
    return {"object": "list", "data": data, "has_more": has_more, "url": url}
