"""`make bench-counters`: the counters poll and the usage flush over 100k accounts' counters.

A private redis-server holds one live usage hash (three fields), its hours set and a quota key for
each of 100,000 accounts: 300,000 keys, as a busy hour leaves them. Then it times, in one process:

- the counters poll (usage.reports.unflushed_live_units, what the dashboard polls every 5 s), and
  for comparison the SCAN the previous release made for it;
- an idle flush (no account made a new hash since the last one);
- busy flushes with 10, 100 and 1,000 dirty accounts, whose batches are applied to PostgreSQL.

Creates its own database (COUNTERS_BENCH_DATABASE_URL, dropped and recreated; its name must
contain "bench"). Prints a table and writes bench/results/counters-<date>.json.

    COUNTERS_BENCH_DATABASE_URL   postgres://postgres@127.0.0.1:5432/tollgate_bench_counters
    COUNTERS_BENCH_ACCOUNTS       accounts with counters in Redis (100000)
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import dj_database_url
import psycopg
from dashboard import start_redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get(
    "COUNTERS_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tollgate_bench_counters"
)
ACCOUNTS = int(os.environ.get("COUNTERS_BENCH_ACCOUNTS", "100000"))
BUSY = (10, 100, 1000)
RUNS = 20
FIELDS = ("GET /items|ok", "GET /items|rate_limited", "POST /orders|ok")


def recreate_database() -> None:
    db = dj_database_url.parse(DATABASE_URL)
    if not db["ENGINE"].endswith("postgresql") or "bench" not in db["NAME"]:
        raise SystemExit(f"COUNTERS_BENCH_DATABASE_URL must name a 'bench' database: {db['NAME']}")
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db["PASSWORD"] or None, dbname="postgres", autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db["NAME"]}"')


def timed_ms(action: Callable[[], object], runs: int = RUNS) -> dict[str, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(samples), 3), "max_ms": round(max(samples), 3)}


def load_counters(client, account_ids: list[int], hour: str) -> None:
    from core.redis_keys import account_tag, live_hours_key

    pipe = client.pipeline(transaction=False)
    for n, account_id in enumerate(account_ids, 1):
        tag = account_tag(account_id)
        usage = f"{tag}:use:{hour}"
        pipe.hset(usage, mapping={f"k{account_id}|demo|{f}": 7 for f in FIELDS})
        pipe.sadd(live_hours_key(account_id), usage)
        pipe.set(f"{tag}:quota:live:0", 21)
        if n % 5000 == 0:
            pipe.execute()
    pipe.execute()


def previous_release_poll(client, account_id: int) -> None:
    """What usage.reports did before the per-account sets: SCAN the keyspace for the account."""
    for pattern in (f"tg:{{acct:{account_id}}}:use:*", f"tg:{{acct:{account_id}}}:batch:*"):
        for key in client.scan_iter(match=pattern, count=1000):
            client.hgetall(key)


def run(workdir: Path) -> dict[str, object]:
    import django

    django.setup()
    from django.core.management import call_command

    from accounts.models import Account
    from core.redis_keys import DIRTY_ACCOUNTS
    from portal.redis_client import get_redis
    from usage.flush import flush
    from usage.reports import unflushed_live_units

    call_command("migrate", verbosity=0)
    client = get_redis()
    hour = datetime.now(UTC).strftime("%Y%m%d%H")
    real = list(
        Account.objects.bulk_create(
            Account(name=f"Bench {n}", slug=f"bench-{n}") for n in range(max(BUSY))
        )
    )
    real_ids = [account.id for account in real]
    others = range(10_000_000, 10_000_000 + ACCOUNTS - len(real_ids))
    load_counters(client, [*real_ids, *others], hour)
    results: dict[str, object] = {"accounts": ACCOUNTS, "redis_keys": client.dbsize()}
    results["counters_poll"] = timed_ms(lambda: unflushed_live_units(real[0]))
    results["previous_release_poll"] = timed_ms(lambda: previous_release_poll(client, real_ids[0]))
    results["idle_flush"] = timed_ms(lambda: flush(client))
    busy = {}
    for count in BUSY:
        client.sadd(DIRTY_ACCOUNTS, *real_ids[:count])
        start = time.perf_counter()
        summary = flush(client)
        seconds = time.perf_counter() - start
        assert len(summary.account_ids) == count, summary
        busy[count] = {
            "ms": round(seconds * 1000, 1),
            "ms_per_account": round(seconds * 1000 / count, 2),
        }
        load_counters(client, real_ids[:count], hour)  # the next hour's calls
    results["busy_flush"] = busy
    return results


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-counters-") as tmp:
        workdir = Path(tmp)
        redis_process, redis_url = start_redis(workdir)
        os.environ.update(
            DATABASE_URL=DATABASE_URL, REDIS_URL=redis_url, TOLLGATE_VAR_DIR=str(workdir / "var"),
            DJANGO_SETTINGS_MODULE="portal.settings", LOG_LEVEL="WARNING",
        )  # fmt: skip
        try:
            recreate_database()
            results = run(workdir)
        finally:
            redis_process.terminate()
            redis_process.wait(timeout=10)
    results["date"] = datetime.now(UTC).strftime("%Y-%m-%d")
    out = ROOT / "bench" / "results" / f"counters-{results['date']}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
