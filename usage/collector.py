"""Read nginx's JSON access log into EndpointHourStats: status classes and latency per hour.

EndpointHourStats is per key; LatencySummary, written with it, sums it over keys for the pages.

Each chunk of whole lines is aggregated in memory and written, together with the new read
offset, in one transaction: after a crash the collector resumes from the last committed offset,
so no line is counted twice or lost. A rotated log (new inode, or a file shorter than the
offset) is read from its start.

The offset is kept per gateway host (GATEWAY_HOST_ID) and log path, since hosts share the
database and usually the path, never the file; and its row stays locked from reading the offset
to committing the new one, so two collectors on one host take turns instead of both counting a
chunk.
"""

from __future__ import annotations

import json
import logging
import os
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import transaction

from accounts.models import Account
from apikeys.models import ApiKey
from portal.metrics import COLLECTOR_LAG_BYTES
from requestlog.recording import record_lines
from usage.models import LATENCY_BUCKETS_MS, EndpointHourStats, LogCursor
from usage.summaries import add_latency_summary

log = logging.getLogger(__name__)
CHUNK_BYTES = 1 << 20

StatKey = tuple[int, str, str, datetime, str]  # account, key, endpoint, hour, status class


@dataclass
class Tally:
    count: int = 0
    histogram: list[int] | None = None

    def add(self, latency_ms: float) -> None:
        if self.histogram is None:
            self.histogram = [0] * (len(LATENCY_BUCKETS_MS) + 1)
        self.count += 1
        self.histogram[bisect_left(LATENCY_BUCKETS_MS, latency_ms)] += 1


@dataclass(frozen=True)
class Call:
    key: StatKey
    latency_ms: float
    at: datetime
    ip: str | None


def parse_line(line: str) -> Call | None:
    """One access-log entry, or None for lines that are not admitted API calls."""
    try:
        entry = json.loads(line)
        account_id = int(entry["consumer"])  # the account id nginx got from the auth answer
        key_id = entry["key_id"]
        status = int(entry["status"])
        moment = datetime.fromisoformat(entry["time"]).astimezone(UTC)
        latency_ms = float(entry.get("upstream_time") or entry.get("request_time") or 0) * 1000
    except (ValueError, KeyError, TypeError):
        return None
    if not key_id or not account_id or entry.get("deny"):
        return None  # refusals are counted by the gateway itself, into the usage rollups
    hour = moment.replace(minute=0, second=0, microsecond=0)
    endpoint = entry.get("endpoint") or "other"  # the OpenAPI operation, from the gateway
    key = (account_id, key_id, endpoint, hour, f"{status // 100}xx")
    return Call(key, latency_ms, moment, entry.get("ip") or None)


def aggregate(
    lines: list[str],
) -> tuple[dict[StatKey, Tally], dict[str, tuple[datetime, str | None]]]:
    """Tallies per stat row, and each key's last use (when, from which IP)."""
    tallies: dict[StatKey, Tally] = defaultdict(Tally)
    last_used: dict[str, tuple[datetime, str | None]] = {}
    for line in lines:
        call = parse_line(line)
        if call is None:
            continue
        tallies[call.key].add(call.latency_ms)
        key_id = call.key[1]
        if key_id not in last_used or last_used[key_id][0] <= call.at:
            last_used[key_id] = (call.at, call.ip)
    return tallies, last_used


def write_stats(tallies: dict[StatKey, Tally]) -> None:
    known = set(Account.objects.filter(id__in={k[0] for k in tallies}).values_list("id", flat=True))
    for (account_id, key_id, endpoint, hour, status_class), tally in sorted(tallies.items()):
        if account_id not in known:
            continue
        stats, _ = EndpointHourStats.objects.select_for_update().get_or_create(
            account_id=account_id, key_id=key_id, endpoint=endpoint, hour=hour,
            status_class=status_class,
        )  # fmt: skip
        histogram = stats.latency_histogram or [0] * (len(LATENCY_BUCKETS_MS) + 1)
        stats.latency_histogram = [
            a + b for a, b in zip(histogram, tally.histogram or [], strict=True)
        ]
        stats.count += tally.count
        stats.save()
    add_to_latency_summary(tallies, known)


def add_to_latency_summary(tallies: dict[StatKey, Tally], known: set[int]) -> None:
    """The same tallies summed over keys, per account and hour, into LatencySummary."""
    by_hour: dict[tuple[int, datetime], dict[tuple[str, str], tuple[int, list[int]]]] = defaultdict(
        dict
    )
    for (account_id, _key_id, endpoint, hour, status_class), tally in tallies.items():
        if account_id not in known:
            continue
        count, histogram = by_hour[(account_id, hour)].get(
            (endpoint, status_class), (0, [0] * (len(LATENCY_BUCKETS_MS) + 1))
        )
        by_hour[(account_id, hour)][(endpoint, status_class)] = (
            count + tally.count,
            [a + b for a, b in zip(histogram, tally.histogram or [], strict=True)],
        )
    for (account_id, hour), stats in sorted(by_hour.items()):
        add_latency_summary(account_id, hour, stats)


def collect_once(path: Path) -> int:
    """Read what is new in the log since the last run; returns the number of lines read."""
    stat = stat_of(path)
    if stat is None:
        return 0
    cursors = LogCursor.objects.filter(host=settings.GATEWAY_HOST_ID, path=str(path))
    if cursors.filter(inode=stat.st_ino, offset=stat.st_size).exists():
        COLLECTOR_LAG_BYTES.set(0)
        return 0  # nothing new: no lock (on SQLite, no database-wide write lock every second)
    with transaction.atomic():
        cursor, _ = cursors.select_for_update().get_or_create(
            host=settings.GATEWAY_HOST_ID, path=str(path)
        )
        # Again under the lock: another collector may have read further meanwhile, and the old
        # size would then look like a rotated log.
        stat = stat_of(path)
        if stat is None:
            return 0
        same_file = cursor.inode == stat.st_ino and cursor.offset <= stat.st_size
        offset = cursor.offset if same_file else 0  # else rotated: read the new file from its start
        complete = read_lines(path, offset)
        COLLECTOR_LAG_BYTES.set(stat.st_size - offset - len(complete))
        if not complete:
            return 0
        lines = complete.decode("utf-8", errors="replace").splitlines()
        tallies, last_used = aggregate(lines)
        write_stats(tallies)
        # Keys' "last used" comes from here, a few writes per chunk, not one per request.
        ApiKey.objects.record_last_used(last_used)
        record_lines(lines)  # the request log: every call of a known key, refusals included
        LogCursor.objects.filter(pk=cursor.pk).update(
            inode=stat.st_ino, offset=offset + len(complete)
        )
    return len(lines)


def stat_of(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:  # rotated away, not yet reopened by nginx
        return None


def read_lines(path: Path, offset: int) -> bytes:
    """The whole lines after offset, up to CHUNK_BYTES; a half-written last line waits."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        chunk = handle.read(CHUNK_BYTES)
    return chunk[: chunk.rfind(b"\n") + 1]


def percentile(histogram: list[int], fraction: float) -> float | None:
    """The upper bound (ms) of the bucket holding that fraction of calls."""
    total = sum(histogram)
    if total == 0:
        return None
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= fraction * total:
            return (
                float(LATENCY_BUCKETS_MS[index])
                if index < len(LATENCY_BUCKETS_MS)
                else float("inf")
            )
    return None
