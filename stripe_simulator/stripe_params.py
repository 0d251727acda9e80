"""What Stripe accepts on each endpoint, checked before anything else, as Stripe checks it.

`stripe_params.json` is Stripe's own description of the parameters of every endpoint the
simulator serves, generated from the type declarations of the `stripe` npm package (the same
reference the conformance test reads: tests/billing/reference.py writes this file, and a test
fails when it is stale). It is checked in, so `make run` needs no node.

A form carries strings, hashes and arrays; each is checked against the schema of its parameter:
a name Stripe does not have is `parameter_unknown`, a required one missing `parameter_missing`,
an empty string where the parameter cannot be unset `parameter_invalid_empty`, a value outside
an enum, of the wrong shape or not a number is refused naming the parameter. The declarations
do not tell integers from other numbers; where the simulator implements an integer, its own
spec (params.py, checked next) refuses a fraction.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from stripe_simulator.errors import StripeError, invalid

PARAMS_FILE = Path(__file__).with_name("stripe_params.json")
NUMBER = re.compile(r"-?\d{1,18}(\.\d{1,12})?")
Schema = dict[str, Any]


@cache
def checked_in() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(PARAMS_FILE.read_text())
    return loaded


def endpoint(method: str, pattern: str) -> str:
    """`POST /v1/customers/{id}` for the route `POST /v1/customers/([\\w-]+)`."""
    return f"{method} " + re.sub(r"\([^)]*\)", "{id}", pattern)


def check(name: str, form: dict[str, Any], document: dict[str, Any] | None = None) -> None:
    """Refuse `form` as Stripe would refuse it on endpoint `name` (StripeError, a 400)."""
    document = document or checked_in()
    schema = document["endpoints"].get(name)
    if schema is None:  # a route added to app.API since the file was generated
        raise StripeError(
            404,
            f"Unrecognized request URL ({name}): not in stripe_simulator/stripe_params.json "
            "(regenerate it: .venv/bin/python -m tests.billing.reference)",
            executed=False,
        )
    Checker(document["definitions"]).value(schema, form, "")


class Checker:
    def __init__(self, definitions: dict[str, Schema]) -> None:
        self.definitions = definitions

    def resolve(self, schema: Schema) -> Schema:
        while "$ref" in schema:
            schema = self.definitions[schema["$ref"]]
        return schema

    def value(self, schema: Schema, value: Any, name: str) -> None:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            self.any_of(schema["anyOf"], value, name)
            return
        kind = schema.get("type")
        if kind is None:
            return
        if value == "" and not self.accepts_empty(schema):
            raise _empty(name)
        if kind == "object":
            self.hash(schema, value, name)
        elif kind == "array":
            if not isinstance(value, list):
                raise invalid(name, f"Invalid array: {name} must be an array")
            for index, item in enumerate(value):
                self.value(schema["items"], item, f"{name}[{index}]")
        elif not isinstance(value, str):
            raise invalid(name, f"Invalid {kind}: {name} must be a {kind}, not a hash or array")
        else:
            self.scalar(schema, kind, value, name)

    def scalar(self, schema: Schema, kind: str, value: str, name: str) -> None:
        if kind == "number" and not NUMBER.fullmatch(value):
            raise invalid(name, f"Invalid integer: {value}", "parameter_invalid_integer")
        if kind == "boolean" and value not in ("true", "false"):
            raise invalid(name, f"Invalid boolean: {value}")
        if schema.get("format") == "decimal" and not NUMBER.fullmatch(value):
            raise invalid(name, f"Invalid decimal: {value}")
        allowed = schema.get("enum")
        if allowed is not None and value not in [_form_text(item) for item in allowed]:
            texts = [_form_text(item) for item in allowed]
            listed = ", ".join(texts[:-1]) + f", or {texts[-1]}" if len(texts) > 1 else texts[0]
            raise invalid(name, f"Invalid {name or 'value'}: must be one of {listed}")

    def hash(self, schema: Schema, value: Any, name: str) -> None:
        extra = schema.get("additionalProperties", False)
        if not isinstance(value, dict):
            raise invalid(name, f"Invalid hash: {name} must be a hash")
        known = schema.get("properties", {})
        for key, item in value.items():
            full = f"{name}[{key}]" if name else key
            if key in known:
                self.value(known[key], item, full)
            elif extra is False:
                raise invalid(full, f"Received unknown parameter: {full}", "parameter_unknown")
            elif isinstance(extra, dict):
                if isinstance(item, dict | list) and not self.accepts_container(extra):
                    raise invalid(name, f"Invalid hash: {name} must be a hash of strings")
                self.value(extra, item, full)
        for key in schema.get("required", []):
            if key not in value:
                full = f"{name}[{key}]" if name else key
                raise invalid(full, f"Missing required param: {full}.", "parameter_missing")

    def any_of(self, options: list[Schema], value: Any, name: str) -> None:
        if value == "":
            if not any(self.accepts_empty(option) for option in options):
                raise _empty(name)
            return
        refusals: list[tuple[bool, StripeError]] = []
        for option in options:
            try:
                self.value(option, value, name)
            except StripeError as error:
                refusals.append((self.same_shape(option, value), error))
            else:
                return
        # The refusal of the option of the value's own shape (a hash's unknown key, not "must
        # be a string"), else the first.
        raise next((error for same, error in refusals if same), refusals[0][1])

    def accepts_empty(self, schema: Schema) -> bool:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            return any(self.accepts_empty(option) for option in schema["anyOf"])
        return schema.get("type") in ("null", None) or "" in schema.get("enum", [])

    def accepts_container(self, schema: Schema) -> bool:
        schema = self.resolve(schema)
        if "anyOf" in schema:
            return any(self.accepts_container(option) for option in schema["anyOf"])
        return schema.get("type") in ("object", "array", None)

    def same_shape(self, schema: Schema, value: Any) -> bool:
        kind = self.resolve(schema).get("type")
        if isinstance(value, dict):
            return kind == "object"
        if isinstance(value, list):
            return kind == "array"
        return kind not in ("object", "array")


def _form_text(item: Any) -> str:
    if isinstance(item, bool):
        return "true" if item else "false"
    return str(item)


def _empty(name: str) -> StripeError:
    return invalid(
        name,
        f"You passed an empty string for '{name}'. We assume empty values are an attempt to "
        f"unset a parameter; however '{name}' cannot be unset. You should remove '{name}' "
        "from your request or supply a non-empty value.",
        "parameter_invalid_empty",
    )
