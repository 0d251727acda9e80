"""Weighted operations: what one call of an operation costs in units, and its own rate limits.

A product's catalog entry lists them (``[[products.operations]]``): a method and a path
template relative to the product's prefix, in OpenAPI's spelling ("/reports",
"/items/{id}/export"), where a parameter is a whole segment. The gateway matches them against
the canonical path only (catalog.paths refuses every other spelling first) and, beyond that,
reads a path the way the most lenient upstream would (any letter case, a trailing slash, HEAD as
GET): a spelling that some upstream could route to an operation is charged as that operation
(gateway.policy, docs/pricing.md "Weighted endpoints").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from catalog import paths

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
MAX_COST = 1_000_000
FIELDS = {"method", "path", "cost", "requests_per_second", "requests_per_minute"}
PARAMETER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]{0,39}\}")


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str  # a template relative to the product's prefix, without a trailing slash
    cost: int = 1
    requests_per_second: int | None = None
    requests_per_minute: int | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_limited(self) -> bool:
        return self.requests_per_second is not None or self.requests_per_minute is not None

    @classmethod
    def from_entry(cls, entry: Any) -> Operation:
        """An operation from its catalog table; ValueError says what is wrong with it."""
        if not isinstance(entry, dict):
            raise ValueError("each operation is a table with method, path and cost")
        where = f"operation {str(entry.get('method'))[:10]} {str(entry.get('path'))[:80]}"
        if unknown := set(entry) - FIELDS:
            raise ValueError(f"{where}: unknown fields {sorted(map(str, unknown))}")
        method = entry.get("method")
        if not isinstance(method, str) or method.upper() not in METHODS:
            raise ValueError(f"{where}: method is one of {', '.join(METHODS)}")
        path = entry.get("path")
        if not isinstance(path, str) or not is_template(path):
            raise ValueError(
                f"{where}: path is a template below the product's prefix, like /reports or "
                f"/items/{{id}} (parameters are whole segments; {paths_rule()})"
            )
        cost = entry.get("cost", 1)
        if not _whole(cost, 1, MAX_COST):
            raise ValueError(f"{where}: cost is a whole number of units from 1 to {MAX_COST:,}")
        limits = {}
        for name in ("requests_per_second", "requests_per_minute"):
            value = entry.get(name)
            if value is not None and not _whole(value, 1, 10**9):
                raise ValueError(f"{where}: {name} is a whole number from 1")
            limits[name] = value
        return cls(method.upper(), normal_template(path), cost, **limits)

    def as_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"method": self.method, "path": self.path, "cost": self.cost}
        for name in ("requests_per_second", "requests_per_minute"):
            if getattr(self, name) is not None:
                entry[name] = getattr(self, name)
        return entry


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def paths_rule() -> str:
    return "other segments as docs/gateway-paths.md allows, no percent-encoding"


def normal_template(path: str) -> str:
    return path.rstrip("/") or "/"


def is_template(path: str) -> bool:
    """A canonical path once each whole-segment parameter is replaced by a plain value."""
    if not path.startswith("/"):
        return False
    segments = path.split("/")[1:]
    plain = "/" + "/".join("x" if PARAMETER.fullmatch(s) else s for s in segments)
    return paths.is_canonical_prefix(plain)


def operations_of(entries: object) -> tuple[Operation, ...]:
    """A product's stored operations (already checked when saved)."""
    return tuple(Operation.from_entry(e) for e in entries) if isinstance(entries, list) else ()
