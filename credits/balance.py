"""The Redis balance the gateway spends, kept equal to the ledger, whatever crashes.

The ledger (CreditEntry) is the truth; Redis holds, per account, the hash
``tg:{acct:<id>}:credits`` (core/redis_keys.py) with ``balance`` and ``used``. The gateway's
script (gateway/limits.lua) admits a call only if ``balance`` covers its cost, and then takes
the cost from ``balance`` and adds it to ``used``, in the same atomic step as the other limits.

Every step below is one script in the account's slot and safe to crash after:

- grant: a ledger entry that adds or removes units (purchase, top-up, refund, expiry) is
  committed first, then added to ``balance`` by GRANT, which records the entry's id in the
  grants set: applying it twice changes nothing. The commit's on_commit hook applies it at
  once; a crash there leaves ``applied_to_redis`` false, and the flush applies it.
- claim: CLAIM moves ``used`` into a batch key named by a fresh uuid, listed in the batches set.
- apply: the batch becomes a usage entry whose `reference` is the batch id (unique): a rerun's
  insert fails and adds nothing twice.
- forget: DEL the batch and its name in the set.
- seed: a balance missing from Redis (a new wallet, or a Redis that lost its data) is set from
  the ledger, with every grant id the ledger holds: SEED does nothing if the balance exists.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from core.redis_keys import account_tag, credit_batches_key, credit_grants_key, credits_key
from credits.models import CreditEntry, EntryKind
from portal.redis_client import Redis, get_redis

GRANT = """
if redis.call('HEXISTS', KEYS[1], 'balance') == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'balance', ARGV[2])
return 1
"""
CLAIM = """
local used = tonumber(redis.call('HGET', KEYS[1], 'used') or '0')
if used <= 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'used', -used)
redis.call('SET', KEYS[2], used)
redis.call('SADD', KEYS[3], KEYS[2])
return used
"""
SEED = """
if redis.call('HSETNX', KEYS[1], 'balance', ARGV[1]) == 0 then return 0 end
for i = 2, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
return 1
"""


def balance_of(account_id: int, client: Redis | None = None) -> int | None:
    """Units left as the gateway sees them (None: not seeded yet)."""
    value = (client or get_redis()).hget(credits_key(account_id), "balance")
    return None if value is None else int(value)


def seed(account_id: int, client: Redis | None = None) -> bool:
    """Set a missing balance from the ledger; True if it was missing."""
    client = client or get_redis()
    entries = list(
        CreditEntry.objects.filter(account_id=account_id).values_list("id", "kind", "units")
    )
    total = sum(units for _, _, units in entries)
    grant_ids = [entry_id for entry_id, kind, _ in entries if kind != EntryKind.USAGE]
    keys = [credits_key(account_id), credit_grants_key(account_id)]
    seeded = bool(client.register_script(SEED)(keys=keys, args=[total, *grant_ids]))
    if seeded:
        CreditEntry.objects.filter(id__in=grant_ids, applied_to_redis=False).update(
            applied_to_redis=True
        )
    return seeded


def apply_grant(entry: CreditEntry, client: Redis | None = None) -> None:
    """Add a committed grant to the Redis balance, once (a seed counts it in)."""
    client = client or get_redis()
    keys = [credits_key(entry.account_id), credit_grants_key(entry.account_id)]
    grant = client.register_script(GRANT)
    if grant(keys=keys, args=[entry.pk, entry.units]) == -1:
        # No balance yet: seed it from the ledger, then grant again. A seed that read the
        # ledger before this entry committed (another one, racing) left it out: the second
        # GRANT adds it; one that counted it listed its id, and the second GRANT does nothing.
        seed(entry.account_id, client)
        grant(keys=keys, args=[entry.pk, entry.units])
    CreditEntry.objects.filter(pk=entry.pk).update(applied_to_redis=True)


def apply_on_commit(entry: CreditEntry) -> None:
    transaction.on_commit(lambda: apply_grant(entry))


def claim(account_id: int, client: Redis) -> str | None:
    """Move the units spent since the last claim into a new batch; None if none were."""
    batch = f"{account_tag(account_id)}:credits:batch:{uuid.uuid4().hex}"
    keys = [credits_key(account_id), batch, credit_batches_key(account_id)]
    return batch if client.register_script(CLAIM)(keys=keys) else None


def pending_batches(account_id: int, client: Redis) -> list[str]:
    return sorted(
        name.decode() if isinstance(name, bytes) else name
        for name in client.smembers(credit_batches_key(account_id))
    )


def batch_units(batch: str, client: Redis) -> int:
    value = client.get(batch)
    return int(value) if value is not None else 0


def forget(account_id: int, batch: str, client: Redis) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.delete(batch)
    pipe.srem(credit_batches_key(account_id), batch)
    pipe.execute()
