"""The mock API that test keys of `mock` products reach: one ASGI app answering for every such
product from its own OpenAPI spec, under the product's path prefix (docs/sandbox.md).

Built on connexion 3 (its mock resolver): connexion validates each request against the spec
(parameters, body, content type) and refuses an invalid one with 400 and the validation
message as ``application/problem+json``, as a server generated from the spec would. An admitted
call gets the operation's example, or one built from its response schema. ``Prefer: code=404``
asks for another documented response, ``Prefer: example=NAME`` for a named example (the
header Prism, the npm mock server, reads the same way).

nginx has already authenticated and counted the call: the spec's security schemes are dropped
here (nginx strips the key before any upstream anyway).
"""

from __future__ import annotations

import copy
import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import connexion
from connexion.exceptions import ProblemException
from connexion.mock import MockResolver
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolution

log = logging.getLogger(__name__)

JSON = "application/json"
# Prefer: code=404, example=missing (RFC 7240 preferences, comma or semicolon separated).
PREFERENCE = re.compile(r"(code|example)\s*=\s*\"?([^\s,;\"]+)\"?", re.IGNORECASE)
MAX_DEPTH = 8  # a schema that refers to itself stops being expanded here
FORMAT_EXAMPLES = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "email": "developer@example.com",
    "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "byte": "ZXhhbXBsZQ==",
}


@dataclass(frozen=True)
class MockedProduct:
    slug: str
    path_prefix: str  # e.g. /demo/: the spec's paths are relative to it, as at the gateway
    spec: dict[str, Any]


def preferences(header: str) -> dict[str, str]:
    return {name.lower(): value for name, value in PREFERENCE.findall(header or "")}


def example_from_schema(schema: Any, depth: int = 0) -> Any:
    """A value that fits `schema`, the same every time: the schema's own example, default,
    const or first enum value where it has one, else a plain value of its type."""
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    for keyword in ("example", "default", "const"):
        if keyword in schema:
            return schema[keyword]
    if isinstance(schema.get("examples"), list) and schema["examples"]:
        return schema["examples"][0]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_from_schema(part, depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    for keyword in ("oneOf", "anyOf"):
        if schema.get(keyword):
            return example_from_schema(schema[keyword][0], depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):  # OpenAPI 3.1: ["string", "null"]
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else None
    return _example_of_type(kind, schema, depth)


def _example_of_type(kind: str | None, schema: dict[str, Any], depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: example_from_schema(sub, depth + 1) for name, sub in properties.items()}
    if kind == "array":
        count = max(1, int(schema.get("minItems", 1)))
        return [example_from_schema(schema.get("items", {}), depth + 1) for _ in range(count)]
    if kind == "string":
        text = FORMAT_EXAMPLES.get(schema.get("format", ""), "string")
        return text.ljust(int(schema.get("minLength", 0)), "x")
    if kind in ("integer", "number"):
        value = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = value + 1 if "exclusiveMinimum" in schema and "minimum" not in schema else value
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return True
    return None


def content_example(content: dict[str, Any], name: str | None) -> tuple[bool, Any]:
    """(found, value) for one media type: the named example, the first example, or the
    schema's."""
    examples = content.get("examples") or {}
    if name is not None and name in examples:
        return True, examples[name].get("value")
    if examples:
        return True, next(iter(examples.values())).get("value")
    if "example" in content:
        return True, content["example"]
    if "schema" in content:
        return True, example_from_schema(content["schema"])
    return False, None


def pick_status(responses: dict[str, Any], wanted: str | None) -> str | None:
    """The documented response to send: the one asked for, else the first success."""
    if wanted is not None:
        return wanted if wanted in responses else None
    codes = sorted(code for code in responses if code[:1] in "23")
    return codes[0] if codes else next(iter(responses), None)


class SpecExampleResolver(MockResolver):  # type: ignore[misc]  # connexion is untyped
    """Every operation answers from the spec (never from code), honouring `Prefer`."""

    def __init__(self) -> None:
        super().__init__(mock_all=True)

    def resolve(self, operation: Any) -> Resolution:
        # Each connexion middleware resolves every operation again: the id must be the same
        # each time (the parent's counter for operations without operationId is not).
        operation_id = self.resolve_operation_id(operation) or (
            f"mock {operation.method.upper()} {operation.path}"
        )
        return Resolution(functools.partial(self.mock_operation, operation=operation), operation_id)

    def mock_operation(self, operation: Any, *args: Any, **kwargs: Any) -> Any:
        prefer = preferences(connexion.request.headers.get("prefer", ""))
        responses: dict[str, Any] = operation.responses or {}
        status = pick_status(responses, prefer.get("code"))
        if status is None:
            documented = ", ".join(responses) or "none"
            raise ProblemException(
                status=422, title="No such response",
                detail=f"Prefer: code={prefer.get('code')} is not a response of this operation"
                f" (documented: {documented}).",
            )  # fmt: skip
        code = 200 if status in ("default",) or not status.isdigit() else int(status)
        contents: dict[str, Any] = responses[status].get("content") or {}
        if not contents or code == 204:
            return "", code
        media = JSON if JSON in contents else next(iter(contents))
        _, body = content_example(contents[media], prefer.get("example"))
        return body, code, {"Content-Type": media}


def as_schema_30(node: Any) -> Any:
    """An OpenAPI 3.1 (JSON Schema 2020-12) fragment in the 3.0 dialect connexion validates
    with, where one exists: type lists with "null" become `nullable`, `const` a one-value enum,
    a list of `examples` the `example`, numeric exclusive bounds the 3.0 pair. Applied to the
    whole document: only schemas carry these shapes (a media type's `examples` is a map)."""
    if isinstance(node, list):
        return [as_schema_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: as_schema_30(value) for key, value in node.items()}
    kind = out.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        if len(kinds) < len(kind):
            out["nullable"] = True
        if len(kinds) == 1:
            out["type"] = kinds[0]
        else:  # several types: 3.0 has no type list, so any of them validates
            out.pop("type")
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if isinstance(out.get("examples"), list):
        examples = out.pop("examples")
        if examples:
            out.setdefault("example", examples[0])
    for bound, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), int | float) and not isinstance(out[bound], bool):
            out[inclusive], out[bound] = out[bound], True
    for key in ("$schema", "$id", "$comment"):
        out.pop(key, None)
    return out


def as_openapi_30(spec: dict[str, Any]) -> dict[str, Any]:
    """connexion 3 validates requests against OpenAPI 3.0 documents only: a 3.1 spec is served
    in its 3.0 form (docs/sandbox.md says which 3.1 constructs this loses)."""
    if not str(spec.get("openapi", "")).startswith("3.1"):
        return spec
    converted: dict[str, Any] = as_schema_30(spec)
    converted["openapi"] = "3.0.3"
    for key in ("jsonSchemaDialect", "webhooks"):
        converted.pop(key, None)
    converted.get("info", {}).pop("summary", None)
    converted.get("info", {}).get("license", {}).pop("identifier", None)
    converted.setdefault("paths", {})
    return converted


def mock_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The product's spec as the mock serves it: no servers (the base path is the product's
    prefix), no security (the gateway has checked the key already), in OpenAPI 3.0."""
    served = as_openapi_30(copy.deepcopy(spec))
    served.pop("servers", None)
    served.pop("security", None)
    served.get("components", {}).pop("securitySchemes", None)
    for item in served.get("paths", {}).values():
        for operation in item.values() if isinstance(item, dict) else ():
            if isinstance(operation, dict):
                operation.pop("security", None)
    return served


def build_app(products: Iterable[MockedProduct]) -> connexion.AsyncApp:
    """One connexion app with each product's spec mounted at its prefix (the longest first, so
    a prefix nested in another's still reaches its own spec)."""
    app = connexion.AsyncApp(__name__)
    for product in sorted(products, key=lambda p: len(p.path_prefix), reverse=True):
        try:
            app.add_api(
                mock_spec(product.spec),
                base_path=product.path_prefix.rstrip("/"),
                name=f"mock-{product.slug}",
                resolver=SpecExampleResolver(),
                swagger_ui_options=SwaggerUIOptions(swagger_ui=False, serve_spec=False),
                validate_responses=False,
            )
        except Exception as error:  # connexion raises its own kinds; one bad spec must not
            # take the other products' mocks down: this one answers 404 and the log says why.
            reason = str(error).splitlines()[0] if str(error) else repr(error)
            log.error("No mock for product %s: its spec cannot be served: %s", product.slug, reason)
    return app
