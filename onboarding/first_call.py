"""The dashboard's first-call checklist: create a key, copy a ready request, see it arrive.

Each step is read from what exists (keys, the gateway's counters, the rollups), so the list
completes itself as the person goes; nothing is stored for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from accounts.models import Account, User
from apidocs.catalogue import operations, visible_products
from apikeys.models import ApiKey
from core.redis_keys import usage_key
from portal.redis_client import get_redis
from usage.models import UsageSummary


@dataclass(frozen=True)
class Checklist:
    has_key: bool
    call_arrived: bool
    curl: str | None  # a ready request with the key placeholder the page fills in

    @property
    def done(self) -> bool:
        return self.has_key and self.call_arrived


def counters_this_hour(account: Account, now: float) -> list[str]:
    """The gateway's usage hashes a call made in the last hour would be in (not yet flushed)."""
    return sorted(
        {usage_key(account.id, env, t) for env in ("live", "test") for t in (now, now - 3600)}
    )


def call_arrived(account: Account) -> bool:
    """Any call with one of the account's keys: in the rollups, or still in Redis."""
    if ApiKey.objects.filter(account=account, last_used_at__isnull=False).exists():
        return True
    if UsageSummary.objects.filter(account=account).exists():
        return True
    # One EXISTS over every live hash of this hour and the last: no SCAN.
    return bool(get_redis().exists(*counters_this_hour(account, time.time())))


def first_curl(user: User) -> str | None:
    product = visible_products(user).exclude(openapi_spec=None).first()
    calls = operations(product) if product else []
    first = next((op for op in calls if op.method == "GET"), None)
    return first.curl if first else None


def checklist_for(account: Account, user: User) -> Checklist:
    has_key = ApiKey.objects.active().filter(account=account).exists()
    return Checklist(
        has_key=has_key,
        call_arrived=call_arrived(account),
        curl=first_curl(user),
    )
