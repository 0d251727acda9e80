"""Stripe's API description for the pinned version, and a checker of objects against it.

`tests/stripe_reference/schema.cjs` turns the `stripe` npm package's type declarations into
JSON Schema (installed by `deploy/ensure-packages.sh test`, which `make test` runs); the result
is cached under var/ beside a hash of its inputs. `mismatches()` lists every way an object
departs from the description: a required field missing, a field Stripe does not have, null
where Stripe never sends null, a value outside an enum, a wrong type.

`simulator_params()` is the part the simulator checks requests against at runtime (the
parameters of the endpoints it serves), checked in as stripe_simulator/stripe_params.json so
that `make run` needs no node; `simulator_objects()` is what it builds its answers from
(stripe_simulator/stripe_objects.json): each object kind it returns with every field at the
value Stripe gives when that feature is not used, and the fields of each kind the description
marks expandable. Regenerate both with `.venv/bin/python -m tests.billing.reference`.
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


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    definitions = reference()["definitions"]
    while "$ref" in schema:
        schema = definitions[schema["$ref"]]
    return schema


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a schema (its anyOf, flattened), each resolved."""
    schema = _resolve(schema)
    if "anyOf" not in schema:
        return [schema]
    return [option for member in schema["anyOf"] for option in _options(member)]


def _options_raw(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a schema, each a resource's `$ref` left as it is."""
    kinds = set(reference()["resources"].values())
    if schema.get("$ref") in kinds:
        return [schema]
    if "$ref" in schema:
        return _options_raw(reference()["definitions"][schema["$ref"]])
    return [
        o
        for member in schema.get("anyOf", [schema])
        for o in (_options_raw(member) if member is not schema else [member])
    ]


def _is_list(schema: dict[str, Any]) -> bool:
    """Stripe's `ApiList<T>`: {object: "list", data: [T], has_more, url}."""
    tag = _resolve(schema).get("properties", {}).get("object")
    return tag is not None and _resolve(tag).get("enum") == ["list"]


def unused(schema: dict[str, Any], sample: Any) -> Any:
    """The value of a field when its feature is not used, as the description allows it: null
    where Stripe may send null; otherwise an empty list or hash, 0, false, and a hash's own
    fields each at theirs. A string Stripe never sends as null keeps the fixture's value (an
    enum's, a currency), since the description gives no other; a field the fixture lacks
    and the description requires is added, one it no longer has dropped."""
    options = _options(schema)
    kinds = {option.get("type") for option in options}
    if "null" in kinds or None in kinds:
        return None
    if isinstance(sample, str) and "string" in kinds:  # an id that can be expanded
        return sample
    hashes = [option for option in options if option.get("type") == "object"]
    if hashes:
        shape = hashes[0]
        if not shape.get("properties"):
            return {}
        given = sample if isinstance(sample, dict) else {}
        return {
            name: unused(field, given.get(name))
            for name, field in shape["properties"].items()
            if name in given or name in shape.get("required", [])
        }
    if "array" in kinds:
        return []
    if "boolean" in kinds:
        return False
    if "number" in kinds:
        return 0
    if isinstance(sample, str):
        return sample
    enums = [value for option in options for value in option.get("enum", [])]
    return enums[0] if enums else ""


def unused_items(schema: dict[str, Any], sample: Any, path: str, found: dict[str, Any]) -> None:
    """`unused()` of the first element of each array of hashes in the fixture (by its path,
    arrays left out): the template of an element the simulator adds (a schedule's phase)."""
    options = _options(schema)
    if isinstance(sample, list) and sample and isinstance(sample[0], dict):
        arrays = [option for option in options if option.get("type") == "array"]
        if arrays:
            found[path] = unused(arrays[0]["items"], sample[0])
            unused_items(arrays[0]["items"], sample[0], path, found)
    elif isinstance(sample, dict):
        for option in options:
            if option.get("type") == "object" and option.get("properties"):
                for name, field in option["properties"].items():
                    if name in sample:
                        unused_items(field, sample[name], f"{path}.{name}" if path else name, found)
                return


def expandable(ref: str) -> tuple[dict[str, Any], set[str]]:
    """The fields of a resource the description marks expandable, by path inside it (through
    its own hashes, arrays and lists, not into the resources it embeds): `string | T` ids, as
    {"expand": [kinds of T]}, and an optional `ApiList<T>` (included only when expanded, as
    Checkout's `line_items`), as {"include": kind of T}. Also the resource kinds it embeds or
    can expand to."""
    kinds = {value: kind for kind, value in reference()["resources"].items()}
    found: dict[str, Any] = {}
    reached: set[str] = set()

    def walk(schema: dict[str, Any], path: str, depth: int) -> None:
        if path and schema.get("$ref") in kinds:  # an embedded resource: its own fields
            reached.add(kinds[schema["$ref"]])
            return
        schema = _resolve(schema)
        if "anyOf" in schema:
            members = schema["anyOf"]
            targets = sorted({kinds[m["$ref"]] for m in members if m.get("$ref") in kinds})
            if targets and any(_resolve(m).get("type") == "string" for m in members):
                found[path] = {"expand": targets}
                reached.update(targets)
                return
            for member in members:
                walk(member, path, depth + 1)
        elif depth > 8:
            return
        elif schema.get("type") == "array":
            walk(schema["items"], path, depth + 1)
        elif schema.get("type") == "object":
            required = schema.get("required", [])
            for name, field in schema.get("properties", {}).items():
                full = f"{path}.{name}" if path else name
                if not path and name not in required and _is_list(field):
                    item = _resolve(field)["properties"]["data"]["items"]
                    included = [
                        kinds[o["$ref"]] for o in _options_raw(item) if o.get("$ref") in kinds
                    ]
                    found[full] = {"include": sorted(set(included))}
                    reached.update(included)
                else:
                    walk(field, full, depth + 1)

    walk({"$ref": ref}, "", 0)
    return found, reached


def simulator_objects() -> dict[str, Any]:
    """What the simulator builds its answers from: `defaults`, each kind it makes (shapes.SHAPED)
    from its fixture with every field at `unused()`'s value; `items`, the same for the elements
    of its arrays of hashes ("<kind> <path>"); `expandable`, for each kind it makes and each
    kind those embed or expand to, the paths `expandable()` finds."""
    from stripe_simulator.shapes import SHAPED, fixtures

    ref = reference()
    defaults: dict[str, Any] = {}
    items: dict[str, Any] = {}
    for kind in SHAPED:
        schema = {"$ref": ref["resources"][kind]}
        defaults[kind] = unused(schema, fixtures()[kind])
        found: dict[str, Any] = {}
        unused_items(schema, fixtures()[kind], "", found)
        items.update({f"{kind} {path}": value for path, value in found.items()})
    maps: dict[str, Any] = {}
    pending = list(SHAPED)
    while pending:
        kind = pending.pop()
        if kind in maps:
            continue
        maps[kind], reached = expandable(ref["resources"][kind])
        pending += sorted(reached - set(maps))
    expandable_by_kind = {kind: paths for kind, paths in maps.items() if paths}
    return {
        "api_version": ref["api_version"],
        "defaults": defaults,
        "items": items,
        "expandable": expandable_by_kind,
    }


def objects_file_text() -> str:
    return json.dumps(simulator_objects(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from stripe_simulator.shapes import OBJECTS_FILE
    from stripe_simulator.stripe_params import PARAMS_FILE

    PARAMS_FILE.write_text(params_file_text())
    print(f"wrote {PARAMS_FILE}")
    OBJECTS_FILE.write_text(objects_file_text())
    print(f"wrote {OBJECTS_FILE}")
