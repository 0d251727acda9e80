"""From nginx's JSON access-log lines to LoggedRequest rows, and their pruning."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import Account
from requestlog.models import LoggedRequest

MAX_PATH = LoggedRequest._meta.get_field("path").max_length or 500


def entry_from_line(line: str) -> LoggedRequest | None:
    """The call of a known key on this line, or None (no key known, or not our JSON)."""
    try:
        entry = json.loads(line)
        account_id = int(entry["consumer"])
        key_id = str(entry["key_id"])
        at = datetime.fromisoformat(entry["time"]).astimezone(UTC)
        status = int(entry["status"])
        seconds = float(entry.get("upstream_time") or entry.get("request_time") or 0)
    except (ValueError, KeyError, TypeError):
        return None
    if not key_id or account_id <= 0:
        return None
    return LoggedRequest(
        account_id=account_id,
        key_id=key_id[:40],
        at=at,
        method=str(entry.get("method", ""))[:10],
        path=str(entry.get("path", ""))[:MAX_PATH],
        status=status,
        latency_ms=round(seconds * 1000, 3),
        reason=str(entry.get("deny", ""))[:30],
        client_ip=client_ip(entry.get("ip")),
    )


def client_ip(value: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return None


def record_lines(lines: list[str]) -> int:
    """Store the lines' calls (accounts that no longer exist are skipped); returns how many."""
    entries = [e for e in map(entry_from_line, lines) if e is not None]
    known = set(
        Account.objects.filter(id__in={e.account_id for e in entries}).values_list("id", flat=True)
    )
    kept = [e for e in entries if e.account_id in known]
    LoggedRequest.objects.bulk_create(kept, batch_size=1000)
    return len(kept)


def prune(now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - timedelta(days=settings.REQUEST_LOG_RETENTION_DAYS)
    deleted, _ = LoggedRequest.objects.filter(at__lt=cutoff).delete()
    return deleted
