"""Move the gateway's Redis counters into HourlyUsage, exactly once, whatever crashes.

The gateway's Lua call increments, per account and hour, a hash
``tg:{acct:<id>}:use:<yyyymmddhh>`` (``test-use`` for test keys) with fields
``<key_id>|<product>|<endpoint>|<outcome>``.
A flush runs in three steps, each safe to crash after:

1. claim: RENAME the live hash to ``tg:{acct:<id>}:batch:<yyyymmddhh>:<uuid>`` (``test-batch``).
   RENAME is atomic, so every increment lands either in the batch or in a fresh live hash,
   never both or neither.
2. apply: in one database transaction, insert FlushedBatch(batch_id) under a unique constraint and
   add the counts to HourlyUsage, DailyUsage and UsageSummary. A batch applied before makes the
   insert fail and the whole transaction roll back, so a rerun adds nothing twice.
3. forget: DEL the batch key. A crash before this leaves a batch that the next run re-applies
   (a no-op, step 2) and then deletes.

Every run first finishes the batches a crashed run left behind. Keys share the account's hash
tag, so RENAME works on Redis Cluster too.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis
from django.db import IntegrityError, connection, transaction

from accounts.models import Account
from apikeys.models import ApiKey
from gateway.models import UncountedCall
from usage.counters import parse_counts
from usage.models import DailyUsage, FlushedBatch, HourlyUsage
from usage.overage import overage_in_batch
from usage.summaries import add_usage_summary, upsert

log = logging.getLogger(__name__)

# Live and test keys count into separate hashes; both are flushed (test calls show, never bill).
COUNTER_KINDS = {"use": "batch", "test-use": "test-batch"}
LIVE_PATTERNS = tuple(f"tg:{{acct:*}}:{kind}:*" for kind in COUNTER_KINDS)
BATCH_PATTERNS = tuple(f"tg:{{acct:*}}:{kind}:*" for kind in COUNTER_KINDS.values())
SCAN_COUNT = 1000


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


@dataclass
class FlushSummary:
    claimed: int = 0
    applied: int = 0
    already_applied: int = 0
    calls: int = 0
    account_ids: set[int] = field(default_factory=set)


def batch_key_for(live_key: str) -> str:
    tag, kind, hour = live_key.rsplit(":", 2)
    return f"{tag}:{COUNTER_KINDS[kind]}:{hour}:{uuid.uuid4().hex}"


def claim(client: redis.Redis, live_key: str) -> str | None:
    """Step 1: atomically move a live counter hash into a new batch; None if it is gone."""
    batch_key = batch_key_for(live_key)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.rename(live_key, batch_key)
        pipe.persist(batch_key)  # the live hash may carry a safety TTL; a batch must not expire
        pipe.execute()
    except redis.ResponseError:  # "no such key": another flusher claimed it first
        return None
    return batch_key


DETAIL_COLUMNS = ("account_id", "key_id", "environment", "product", "endpoint", "outcome")
DETAIL_UNIQUE = ("account_id", "key_id", "product", "endpoint", "outcome")


def add_to_rollups(
    account_id: int, at_hour: datetime, counts: dict[tuple[str, str, str, str], int]
) -> None:
    """Add one account's calls of one hour to HourlyUsage, DailyUsage and UsageSummary."""
    key_ids = {key_id for key_id, *_ in counts}
    environments = dict(
        ApiKey.objects.filter(public_id__in=key_ids).values_list("public_id", "environment")
    )
    rows = [
        (account_id, key_id, environments.get(key_id, "live"), product, endpoint, outcome, count)
        for (key_id, product, endpoint, outcome), count in sorted(counts.items())
    ]
    # Raw SQL takes values in the backend's own format.
    hour = connection.ops.adapt_datetimefield_value(at_hour)
    day = connection.ops.adapt_datefield_value(at_hour.date())
    for model, bucket, value in ((HourlyUsage, "hour", hour), (DailyUsage, "day", day)):
        upsert(
            model, (*DETAIL_COLUMNS, "count", bucket), (*DETAIL_UNIQUE, bucket),
            [(*row, value) for row in rows],
        )  # fmt: skip
    add_usage_summary(
        account_id,
        at_hour,
        ((key_id, environment, endpoint, outcome, count)
         for _, key_id, environment, _, endpoint, outcome, count in rows),
    )  # fmt: skip


def live_ok_calls(counts: dict[tuple[str, str, str, str], int]) -> int:
    live = set(
        ApiKey.objects.filter(
            public_id__in={k for k, *_ in counts}, environment="live"
        ).values_list("public_id", flat=True)
    )
    return sum(
        n for (key_id, _, _, outcome), n in counts.items() if outcome == "ok" and key_id in live
    )


def apply(client: redis.Redis, batch_key: str) -> int | None:
    """Step 2: add a batch to the rollups once. Returns its calls, or None if it had been
    applied before (or its account is gone)."""
    batch = BatchKey.parse(batch_key)
    # Bytes: the client does not decode responses, which redis-py's types cannot tell.
    counts = parse_counts(client.hgetall(batch_key))  # type: ignore[arg-type]
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
                calls=sum(counts.values()),
            )
            overage_in_batch(account, batch.hour, live_ok_calls(counts), batch.batch_id)
            add_to_rollups(batch.account_id, batch.hour, counts)
    except IntegrityError:
        return None
    return sum(counts.values())


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
        grouped: dict[tuple[int, datetime], dict[tuple[str, str, str, str], int]] = defaultdict(
            lambda: defaultdict(int)
        )
        for row in rows:
            hour = row.admitted_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            grouped[(row.account_id, hour)][
                (row.key_id, row.product, row.endpoint_group, "ok")
            ] += 1
        known = set(
            Account.objects.filter(id__in={a for a, _ in grouped}).values_list("id", flat=True)
        )
        for (account_id, hour), counts in grouped.items():
            if account_id in known:
                add_to_rollups(account_id, hour, counts)
        UncountedCall.objects.filter(id__in=[row.id for row in rows]).delete()
    return len(rows)


def flush(client: redis.Redis) -> FlushSummary:
    summary = FlushSummary()
    while counted := flush_uncounted():
        summary.calls += counted
    for pattern in LIVE_PATTERNS:
        for live_key in client.scan_iter(match=pattern, count=SCAN_COUNT):
            if claim(client, live_key.decode()) is not None:
                summary.claimed += 1
    # Includes the batches claimed above and any a crashed run left behind.
    batch_keys = [k for p in BATCH_PATTERNS for k in client.scan_iter(match=p, count=SCAN_COUNT)]
    for raw_key in batch_keys:
        batch_key = raw_key.decode()
        calls = apply(client, batch_key)
        if calls is not None:
            summary.applied += 1
            summary.calls += calls
            summary.account_ids.add(BatchKey.parse(batch_key).account_id)
        else:
            summary.already_applied += 1
        client.delete(batch_key)  # step 3
    return summary
