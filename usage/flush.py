"""Move the gateway's Redis counters into HourlyUsage, exactly once, whatever crashes.

The gateway's Lua call increments, per account and hour, a hash
``tg:{acct:<id>}:use:<yyyymmddhh>`` (``test-use`` for test keys) with fields
``<key_id>|<product>|<endpoint>|<outcome>``, and keeps the names of the account's live hashes in
the set ``tg:{acct:<id>}:hours`` (core/redis_keys.py). When a call makes a new hash, the gateway
then adds the account to the set of dirty accounts ``tg:{usage}:dirty``: that key is in another
Redis Cluster slot, so the script cannot write it; a separate command does.

A flush takes the dirty set whole (renamed to ``tg:{usage}:dirty:run:<uuid>`` and listed in
``tg:{usage}:dirty:runs``: marks made from now on go to a fresh set), reads every taken set still
listed (its own, and those of runs that crashed or still run) and, for each account in them, runs
three steps, each safe to crash after:

1. claim: RENAME a live hash to ``tg:{acct:<id>}:batch:<yyyymmddhh>:<uuid>`` (``test-batch``) and
   move its name from the hours set to the set of batches, in one script of the account's slot.
   RENAME is atomic, so every increment lands either in the batch or in a fresh live hash,
   never both or neither.
2. apply: in one database transaction, insert FlushedBatch(batch_id) under a unique constraint and
   add the counts to HourlyUsage, DailyUsage and UsageSummary. A batch applied before makes the
   insert fail and the whole transaction roll back, so a rerun adds nothing twice.
3. forget: DEL the batch key and its name in the batches set. A crash before this leaves a batch
   that the next run re-applies (a no-op, step 2) and then deletes.

A taken set never changes after its rename, so the run that read it may delete it once its
accounts are done, even if another run took it: those accounts' hashes, made before their marks,
were claimed after the read. A crashed run's sets stay listed, so the next run redoes them; two
runs at once only repeat harmless work. No step reads the whole keyspace: a flush costs a round
trip when no account had calls, and grows with the accounts that had. A dirty mark lost between
the gateway's two commands (a process killed there) is caught by the hourly sweep, the one pass
over the whole keyspace; it also registers hashes written before these sets existed (the upgrade
path).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Account
from apikeys.models import ApiKey
from core.redis_keys import (
    BATCH_KINDS,
    DIRTY_ACCOUNTS,
    DIRTY_RUN_PREFIX,
    DIRTY_RUNS,
    USAGE_KINDS,
    account_of,
    batches_key,
    live_hours_key,
)
from gateway.models import UncountedCall
from portal.redis_client import Redis
from usage import sustained
from usage.counters import OK, CountKey, Tally, parse_usage
from usage.models import DailyUsage, FlushedBatch, HourlyUsage
from usage.overage import overage_in_batch
from usage.summaries import add_usage_summary, upsert

log = logging.getLogger(__name__)

SCAN_COUNT = 1000

# Step 1 for one live hash, atomically in the account's slot: 0 if the flush claimed it already.
CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[3], KEYS[1])
  return 0
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('PERSIST', KEYS[2])
redis.call('SREM', KEYS[3], KEYS[1])
redis.call('SADD', KEYS[4], KEYS[2])
return 1
"""


@dataclass(frozen=True)
class BatchKey:
    account_id: int
    hour: datetime
    batch_id: str

    @classmethod
    def parse(cls, key: str) -> BatchKey:
        # tg:{acct:42}:batch:2026112322:9f0c... (or :test-batch:)
        tag, kind, hour, token = key.split(":", 1)[1].rsplit(":", 3)
        account_id = int(tag.removeprefix("{acct:").removesuffix("}"))
        hour_at = datetime.strptime(hour, "%Y%m%d%H").replace(tzinfo=UTC)
        return cls(account_id, hour_at, f"{account_id}:{kind}:{hour}:{token}")

    @property
    def live(self) -> bool:
        """A batch of live keys' calls (test keys count into `test-batch`)."""
        return self.batch_id.split(":")[1] == BATCH_KINDS[USAGE_KINDS["live"]]


@dataclass
class FlushSummary:
    claimed: int = 0
    applied: int = 0
    already_applied: int = 0
    calls: int = 0
    account_ids: set[int] = field(default_factory=set)


def batch_key_for(live_key: str) -> str:
    tag, kind, hour = live_key.rsplit(":", 2)
    return f"{tag}:{BATCH_KINDS[kind]}:{hour}:{uuid.uuid4().hex}"


def claim(client: Redis, live_key: str) -> str | None:
    """Step 1: atomically move a live counter hash into a new batch; None if it is gone."""
    batch_key = batch_key_for(live_key)
    account_id = account_of(live_key)
    keys = [live_key, batch_key, live_hours_key(account_id), batches_key(account_id)]
    return batch_key if client.register_script(CLAIM)(keys=keys) else None


DETAIL_COLUMNS = ("account_id", "key_id", "environment", "product", "endpoint", "outcome")
DETAIL_UNIQUE = ("account_id", "key_id", "product", "endpoint", "outcome")


def add_to_rollups(account_id: int, at_hour: datetime, counts: dict[CountKey, Tally]) -> None:
    """Add one account's calls (and units) of one hour to HourlyUsage, DailyUsage and
    UsageSummary."""
    key_ids = {key_id for key_id, *_ in counts}
    environments = dict(
        ApiKey.objects.filter(public_id__in=key_ids).values_list("public_id", "environment")
    )
    rows = [
        (
            account_id,
            key_id,
            environments.get(key_id, "live"),
            product,
            endpoint,
            outcome,
            tally.calls,
            tally.units,
        )
        for (key_id, product, endpoint, outcome), tally in sorted(counts.items())
    ]
    # Raw SQL takes values in the backend's own format.
    hour = connection.ops.adapt_datetimefield_value(at_hour)
    day = connection.ops.adapt_datefield_value(at_hour.date())
    for model, bucket, value in ((HourlyUsage, "hour", hour), (DailyUsage, "day", day)):
        upsert(
            model, (*DETAIL_COLUMNS, "count", "units", bucket), (*DETAIL_UNIQUE, bucket),
            [(*row, value) for row in rows], added=("count", "units"),
        )  # fmt: skip
    add_usage_summary(
        account_id,
        at_hour,
        ((key_id, environment, endpoint, outcome, calls, units)
         for _, key_id, environment, _, endpoint, outcome, calls, units in rows),
    )  # fmt: skip


def live_ok_units(counts: dict[CountKey, Tally]) -> int:
    """The quota units the batch's admitted live calls consumed (what overage is billed on)."""
    live = set(
        ApiKey.objects.filter(
            public_id__in={k for k, *_ in counts}, environment="live"
        ).values_list("public_id", flat=True)
    )
    return sum(
        tally.units
        for (key_id, _, _, outcome), tally in counts.items()
        if outcome == OK and key_id in live
    )


def apply(client: Redis, batch_key: str) -> int | None:
    """Step 2: add a batch to the rollups once. Returns its calls, or None if it had been
    applied before (or its account is gone, or the batch is: deleted after an earlier apply)."""
    batch = BatchKey.parse(batch_key)
    # Bytes: the client does not decode responses, which redis-py's types cannot tell.
    counts = parse_usage(client.hgetall(batch_key))  # type: ignore[arg-type]
    if not counts:
        return None
    try:
        with transaction.atomic():
            # One batch of an account at a time: the overage split needs the period's total so far.
            account = Account.objects.select_for_update().filter(id=batch.account_id).first()
            if account is None:
                log.warning("dropping usage batch %s of a deleted account", batch.batch_id)
                return None
            FlushedBatch.objects.create(
                batch_id=batch.batch_id,
                account_id=batch.account_id,
                hour=batch.hour,
                calls=sum(tally.calls for tally in counts.values()),
            )
            overage_in_batch(account, batch.hour, live_ok_units(counts), batch.batch_id)
            add_to_rollups(batch.account_id, batch.hour, counts)
            if batch.live:
                sustained.observe(account, sustained.rate_limited_in(counts), timezone.now())
    except IntegrityError:
        return None
    return sum(tally.calls for tally in counts.values())


UNCOUNTED_CHUNK = 5000


def flush_uncounted() -> int:
    """Count the calls the gateway admitted while Redis was down (GATEWAY_ON_REDIS_DOWN=allow).

    Rows are added to the rollups and deleted in one transaction: exactly once, whatever crashes.
    """
    if not UncountedCall.objects.exists():
        # The usual case (Redis was up): no write transaction, so on SQLite no database-wide
        # write lock every 30 seconds before the batches are even claimed.
        return 0
    with transaction.atomic():
        rows = list(
            UncountedCall.objects.select_for_update(skip_locked=True).order_by("id")[
                :UNCOUNTED_CHUNK
            ]
        )
        grouped: dict[tuple[int, datetime], dict[CountKey, Tally]] = defaultdict(
            lambda: defaultdict(lambda: Tally(0, 0))
        )
        for row in rows:
            hour = row.admitted_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            grouped[(row.account_id, hour)][(row.key_id, row.product, row.endpoint_group, OK)] += (
                Tally(1, row.units)
            )
        known = set(
            Account.objects.filter(id__in={a for a, _ in grouped}).values_list("id", flat=True)
        )
        for (account_id, hour), counts in grouped.items():
            if account_id in known:
                add_to_rollups(account_id, hour, counts)
        UncountedCall.objects.filter(id__in=[row.id for row in rows]).delete()
    return len(rows)


def forget(client: Redis, batch_key: str) -> None:
    """Step 3. A crash between the two leaves a name without a batch: apply() skips it."""
    client.delete(batch_key)
    client.srem(batches_key(account_of(batch_key)), batch_key)


def key_names(client: Redis, set_key: str) -> list[str]:
    # Bytes: the client does not decode responses, which redis-py's types cannot tell.
    return sorted(name.decode() for name in client.smembers(set_key))  # type: ignore[union-attr]


def flush_account(client: Redis, account_id: int, summary: FlushSummary) -> None:
    for live_key in key_names(client, live_hours_key(account_id)):
        if claim(client, live_key) is not None:
            summary.claimed += 1
    # Includes the batches claimed above and any a crashed run left behind.
    for batch_key in key_names(client, batches_key(account_id)):
        calls = apply(client, batch_key)
        if calls is not None:
            summary.applied += 1
            summary.calls += calls
            summary.account_ids.add(account_id)
        else:
            summary.already_applied += 1
        forget(client, batch_key)


# Take the dirty set under a name of its own, then list every taken set not yet finished.
TAKE_DIRTY = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[3])
  redis.call('SADD', KEYS[2], KEYS[3])
end
return redis.call('SMEMBERS', KEYS[2])
"""


def take_dirty_accounts(client: Redis) -> tuple[list[int], list[str]]:
    """The accounts to flush now, and the taken sets they came from (to finish afterwards)."""
    run_key = f"{DIRTY_RUN_PREFIX}{uuid.uuid4().hex}"
    taken = client.register_script(TAKE_DIRTY)(keys=[DIRTY_ACCOUNTS, DIRTY_RUNS, run_key])
    run_keys = sorted(name.decode() for name in taken)
    if not run_keys:
        return [], []
    members = client.sunion(run_keys)
    return sorted(int(member) for member in members), run_keys


def finish_dirty_sets(client: Redis, run_keys: list[str]) -> None:
    """Every account of these taken sets is flushed: forget the sets (all in one slot)."""
    client.delete(*run_keys)
    client.srem(DIRTY_RUNS, *run_keys)


def flush(client: Redis) -> FlushSummary:
    summary = FlushSummary()
    while counted := flush_uncounted():
        summary.calls += counted
    account_ids, run_keys = take_dirty_accounts(client)
    for account_id in account_ids:
        flush_account(client, account_id, summary)
    if run_keys:
        finish_dirty_sets(client, run_keys)
    return summary


def sweep(client: Redis) -> int:
    """Register every usage hash and batch in its account's sets and mark the account dirty.

    The one pass over the whole keyspace, hourly: it finds a hash whose dirty mark was lost (a
    gateway killed between its two commands) and, once after an upgrade, the hashes and batches
    written before the per-account sets existed. Returns the accounts it marked.
    """
    account_ids = set()
    for raw_key in client.scan_iter(match="tg:{acct:*}:*", count=SCAN_COUNT):
        key = raw_key.decode()
        kind = key.split("}:", 1)[1].split(":", 1)[0]
        if kind in USAGE_KINDS.values():
            client.sadd(live_hours_key(account_of(key)), key)
        elif kind in BATCH_KINDS.values():
            client.sadd(batches_key(account_of(key)), key)
        elif kind not in ("hours", "batches"):
            continue
        account_ids.add(account_of(key))
    if account_ids:
        client.sadd(DIRTY_ACCOUNTS, *account_ids)
    return len(account_ids)
