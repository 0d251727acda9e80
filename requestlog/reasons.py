"""The gateway's refusal reasons in words, for every page that shows them."""

from __future__ import annotations

REASON_WORDS = {
    "rate_limited": "Rate limited",
    "quota_exceeded": "Quota used up",
    "forbidden": "Not in the plan or the key's restrictions",
    "ip_not_allowed": "IP address not allowed",
    "payment_required": "Payment required",
    "credits_exhausted": "Credits used up",
    "pass_expired": "Time pass expired",
    "inactive_key": "Key revoked or expired",
    "invalid_path": "Path not canonical",
    "unavailable": "Gateway unavailable",
}


def reason_words(reason: str) -> str:
    return REASON_WORDS.get(reason, reason.replace("_", " ").capitalize())
