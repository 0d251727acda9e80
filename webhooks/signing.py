"""The `Tollgate-Signature` header: `t=<unix time>,v1=<hex HMAC-SHA256(secret, "t.body")>`.

Stripe's scheme, so receivers know it: one `v1=` per secret in use (two for a day after a roll),
and a receiver rejects a timestamp further than TOLERANCE_SECONDS from its clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

HEADER = "Tollgate-Signature"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header_value(secrets: Iterable[str], timestamp: int, body: bytes) -> str:
    return ",".join([f"t={timestamp}", *(f"v1={signature(s, timestamp, body)}" for s in secrets)])


def verify(secret: str, header: str, body: bytes, now: int) -> bool:
    """What a receiver does (docs/webhooks.md shows the same in Python and JavaScript)."""
    parts = [item.partition("=") for item in header.split(",")]
    timestamps = [value for key, _, value in parts if key == "t"]
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        return False
    timestamp = int(timestamps[0])
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, timestamp, body)
    return any(key == "v1" and hmac.compare_digest(value, expected) for key, _, value in parts)
