"""One access-log line → one usage event (docs/usage-event.schema.json)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

SCHEMA_VERSION = 1


def event_id(host_id: str, inode: int, offset: int) -> str:
    """Stable for a line: the same host, log file and offset give the same id, so a line read
    again after a crash or a broker outage is published under the id it had."""
    digest = hashlib.sha256(f"{host_id}:{inode}:{offset}".encode()).hexdigest()[:32]
    return f"ue_{digest}"


def _number(value: Any) -> float | None:
    """nginx logs "-" or "" when there was no upstream, and "a, b" after a retry."""
    try:
        return float(str(value).split(",")[-1].strip())
    except ValueError:
        return None


def to_event(line: str, identifier: str, host_id: str) -> dict[str, Any] | None:
    """The event for one decided call, or None for a line that is not one of nginx's JSON
    entries (a torn or foreign line is skipped, not published)."""
    try:
        entry = json.loads(line)
        status = int(entry["status"])
        time = str(entry["time"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(entry, dict):
        return None
    total = _number(entry.get("request_time"))
    upstream = _number(entry.get("upstream_time"))
    deny = entry.get("deny") or None
    return {
        "id": identifier,
        "schema": SCHEMA_VERSION,
        "host": host_id,
        "time": time,
        "account_id": int(entry["consumer"]) if str(entry.get("consumer", "")).isdigit() else None,
        "key_id": entry.get("key_id") or None,
        "environment": entry.get("environment") or None,
        "method": entry.get("method") or "",
        "path": entry.get("path") or "",
        "endpoint": entry.get("endpoint") or None,
        "status": status,
        "admitted": deny is None,  # the gateway let it through (the upstream may still fail)
        "refusal_reason": deny,
        "request_bytes": int(entry.get("request_bytes") or 0),
        "response_bytes": int(entry.get("bytes") or 0),
        "upstream_ms": None if upstream is None else round(upstream * 1000, 3),
        "total_ms": None if total is None else round(total * 1000, 3),
        "client_ip": entry.get("ip") or None,
    }
