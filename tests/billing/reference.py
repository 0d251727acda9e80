"""Stripe's API description for the pinned version, and a checker of objects against it.

`tests/stripe_reference/schema.cjs` turns the `stripe` npm package's type declarations into
JSON Schema (installed by `deploy/ensure-packages.sh test`, which `make test` runs); the result
is cached under var/ beside a hash of its inputs. `mismatches()` lists every way an object
departs from the description: a required field missing, a field Stripe does not have, null
where Stripe never sends null, a value outside an enum, a wrong type.

`simulator_params()` is the part the simulator checks requests against at runtime (the
parameters of the endpoints it serves), checked in as stripe_simulator/stripe_params.json so
that `make run` needs no node. Regenerate it with `.venv/bin/python -m tests.billing.reference`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

from tests.helpers import ROOT

REFERENCE = ROOT / "tests" / "stripe_reference"


@cache
def reference() -> dict[str, Any]:
    inputs = [REFERENCE / "package-lock.json", REFERENCE / "schema.cjs"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)).hexdigest()[:16]
    from django.conf import settings

    cached = Path(settings.VAR_DIR) / "stripe-reference" / f"{digest}.json"
    if not cached.exists():
        if not (REFERENCE / "node_modules" / "stripe").exists():
            raise RuntimeError(
                "Stripe's API description is missing: deploy/ensure-packages.sh test"
            )
        output = subprocess.run(
            ["node", str(REFERENCE / "schema.cjs")], check=True, capture_output=True, timeout=300
        ).stdout
        cached.parent.mkdir(parents=True, exist_ok=True)
        for stale in cached.parent.glob("*.json"):
            stale.unlink()
        temporary = cached.with_suffix(".tmp")
        temporary.write_bytes(output)
        temporary.replace(cached)
    loaded: dict[str, Any] = json.loads(cached.read_text())
    return loaded


def resource_ref(kind: str) -> str:
    return str(reference()["resources"][kind])


def event_ref(event_type: str) -> str | None:
    return reference()["events"].get(event_type)


def notification_ref(event_type: str) -> str | None:
    return reference()["notifications"].get(event_type)


def mismatches(value: Any, ref: str, where: str = "") -> list[str]:
    found: list[str] = []
    _check({"$ref": ref}, value, where, found)
    return found


def error_mismatches(body: Any) -> list[str]:
    """An error answer: {"error": {...}} with Stripe's error fields, `type` and `message` set."""
    if not isinstance(body, dict) or set(body) != {"error"}:
        return ["(top): an error answer is {'error': {...}}"]
    found: list[str] = []
    _check(reference()["error"], body["error"], "error", found)
    found += [f"error.{name}: missing" for name in ("type", "message") if name not in body["error"]]
    return found


def _check(schema: dict[str, Any], value: Any, where: str, found: list[str]) -> None:
    definitions = reference()["definitions"]
    while "$ref" in schema:
        schema = definitions[schema["$ref"]]
    if "anyOf" in schema:
        _check_any(schema["anyOf"], value, where, found)
        return
    kind = schema.get("type")
    if kind is None:
        return
    if value is None and kind != "null":
        found.append(f"{where or '(top)'}: null where Stripe never sends null")
        return
    if not _has_type(value, kind):
        found.append(f"{where or '(top)'}: {type(value).__name__} where Stripe has {kind}")
        return
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} is not one of {schema['enum']}")
    if kind == "array":
        for index, item in enumerate(value):
            _check(schema["items"], item, f"{where}[{index}]", found)
    if kind == "object":
        _check_object(schema, value, where, found)


def _check_object(
    schema: dict[str, Any], value: dict[str, Any], where: str, found: list[str]
) -> None:
    prefix = f"{where}." if where else ""
    for name in schema["required"]:
        if name not in value:
            found.append(f"{prefix}{name}: missing (required)")
    extra = schema.get("additionalProperties", False)
    for name, item in value.items():
        if name in schema["properties"]:
            _check(schema["properties"][name], item, f"{prefix}{name}", found)
        elif extra is False:
            found.append(f"{prefix}{name}: Stripe has no such field")
        elif isinstance(extra, dict):
            _check(extra, item, f"{prefix}{name}", found)


def _check_any(options: list[dict[str, Any]], value: Any, where: str, found: list[str]) -> None:
    if value is None:
        if not any(_accepts_null(option) for option in options):
            found.append(f"{where}: null where Stripe never sends null")
        return
    attempts: list[list[str]] = []
    for option in options:
        errors: list[str] = []
        _check(option, value, where, errors)
        if not errors:
            return
        attempts.append(errors)
    # Report against the option of the value's own type (the object, not the id, of a field
    # that may be expanded), with its fewest mismatches.
    top = f"{where or '(top)'}: "
    same_type = [a for a in attempts if not any(e.startswith(top) for e in a)]
    closest: list[str] = min(same_type or attempts, key=len)
    found.extend(closest)


def _accepts_null(schema: dict[str, Any]) -> bool:
    while "$ref" in schema:
        schema = reference()["definitions"][schema["$ref"]]
    if "anyOf" in schema:
        return any(_accepts_null(option) for option in schema["anyOf"])
    return schema.get("type") in ("null", None)


def _has_type(value: Any, kind: str) -> bool:
    if kind == "null":
        return value is None
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


def simulator_params() -> dict[str, Any]:
    """Stripe's parameters of every Stripe endpoint the simulator serves, and the definitions
    they use: the content of stripe_simulator/stripe_params.json."""
    from stripe_simulator.app import API
    from stripe_simulator.stripe_params import endpoint

    ref = reference()
    served = {endpoint(method, pattern) for method, pattern, spec, _ in API if spec is not None}
    names = sorted(served)
    unknown = [name for name in names if name not in ref["params"]]
    assert not unknown, f"the simulator serves endpoints Stripe does not have: {unknown}"
    endpoints = {name: ref["params"][name] for name in names}
    definitions: dict[str, Any] = {}
    pending = [json.dumps(endpoints)]
    while pending:
        for name in re.findall(r'"\$ref": "([^"]+)"', pending.pop()):
            if name not in definitions:
                definitions[name] = ref["definitions"][name]
                pending.append(json.dumps(definitions[name]))
    return {"api_version": ref["api_version"], "endpoints": endpoints, "definitions": definitions}


def params_file_text() -> str:
    return json.dumps(simulator_params(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from stripe_simulator.stripe_params import PARAMS_FILE

    PARAMS_FILE.write_text(params_file_text())
    print(f"wrote {PARAMS_FILE}")
