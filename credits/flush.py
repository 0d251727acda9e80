"""The credit flush: the Redis balance and the ledger made to agree, crash-safe like the usage
flush (steps in credits/balance.py). It runs over every wallet: grants not yet applied, then
the units spent since the last run, then the balance's consequences (email, top-up)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.utils import timezone

from credits import balance, ledger
from credits.models import CreditEntry, CreditWallet
from portal.redis_client import Redis

log = logging.getLogger(__name__)


@dataclass
class CreditFlushSummary:
    grants: int = 0
    batches: int = 0
    units: int = 0
    account_ids: set[int] = field(default_factory=set)


def flush_credits(client: Redis) -> CreditFlushSummary:
    summary = CreditFlushSummary()
    unapplied = CreditEntry.objects.filter(applied_to_redis=False).order_by("id")
    for entry in unapplied:
        balance.apply_grant(entry, client)
        summary.grants += 1
        summary.account_ids.add(entry.account_id)
    for account_id in CreditWallet.objects.values_list("account_id", flat=True):
        if flush_account(account_id, client, summary):
            summary.account_ids.add(account_id)
    return summary


def flush_account(account_id: int, client: Redis, summary: CreditFlushSummary) -> bool:
    """Claim the account's spent units and move every pending batch into the ledger."""
    if balance.balance_of(account_id, client) is None:
        balance.seed(account_id, client)
    balance.claim(account_id, client)
    batches = balance.pending_batches(account_id, client)
    for batch in batches:
        units = balance.batch_units(batch, client)
        batch_id = batch.split("{", 1)[1].replace("}", "")  # acct:42:credits:batch:<uuid>
        if units and ledger.record_usage(account_id, batch_id, units, timezone.now()):
            summary.batches += 1
            summary.units += units
        balance.forget(account_id, batch, client)
    return bool(batches)
