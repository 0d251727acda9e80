"""Prometheus metrics, served at /metrics to a scraper holding METRICS_TOKEN.

Every server runs several processes (granian workers, Celery's pool, the collector), so in
production ``PROMETHEUS_MULTIPROC_DIR`` names a directory they all write to (emptied before they
start, see docs/operations.md); /metrics then sums the files. Unset, each process counts in
memory, which is enough for development and tests.

The gateway's hot path pays for one counter increment and one histogram observation per
decision; their labelled children are looked up once and kept (``decision_metrics``).
"""

from __future__ import annotations

import hmac
import os
from bisect import bisect_left
from functools import cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

DECISIONS = Counter(
    "tollgate_decisions",
    "Gateway decisions by outcome (admitted or refused) and reason (ok or X-Deny-Reason)",
    ["outcome", "reason"],
)


class TalliedHistogram(Histogram):
    """A histogram that also takes observations already sorted into its buckets (``Tally``)."""

    def add_tallied(self, counts: list[int], total: float) -> None:
        """Add ``counts[i]`` observations to bucket ``i`` (its ``buckets``, then +Inf), whose
        values sum to ``total``: what as many ``observe`` calls would have added."""
        self._sum.inc(total)
        for bucket, count in zip(self._buckets, counts, strict=True):
            if count:
                bucket.inc(count)


DECISION_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
DECISION_SECONDS = TalliedHistogram(
    "tollgate_decision_seconds",
    "Time the auth server spends deciding one call",
    buckets=DECISION_BUCKETS,
)
LEASED_CALLS = Counter(
    "tollgate_leased_calls",
    "Calls admitted on a lease, without a Redis round trip of their own (gateway/leasing.py)",
)
LEASE_RELEASES_WAITING = Gauge(
    "tollgate_lease_releases_waiting",
    "Closed leases whose release Redis has not applied yet (their calls' usage is not in Redis)",
    multiprocess_mode="livesum",
)
CACHE_FIRST_LOADS = Counter(
    "tollgate_gateway_cache_first_loads",
    "Entries the gateway read from the database because a call found them not cached, by cache",
    ["cache"],
)
CACHE_LOAD_BATCHES = Counter(
    "tollgate_gateway_cache_load_batches",
    "Reads those first loads took (several calls' misses share one: core.first_loads), by cache",
    ["cache"],
)
TALLIED_CALLS = Counter(
    "tollgate_tallied_calls",
    "Calls no limit could refuse, admitted without Redis and counted in batches "
    "(gateway/tallying.py)",
)
TALLY_BATCHES_WAITING = Gauge(
    "tollgate_tally_batches_waiting",
    "Batches of tallied calls Redis has not applied yet (their usage is not in Redis)",
    multiprocess_mode="livesum",
)
FLUSH_LAST_SUCCESS = Gauge(
    "tollgate_usage_flush_last_success_timestamp_seconds",
    "When the last flush of the Redis counters into the rollups finished (lag: time() - this)",
    multiprocess_mode="mostrecent",
)
FLUSH_BACKLOG = Gauge(
    "tollgate_usage_flush_backlog_batches",
    "Counter batches the last flush found waiting (claimed and left over from crashed runs)",
    multiprocess_mode="mostrecent",
)
COLLECTOR_LAG_BYTES = Gauge(
    "tollgate_collector_lag_bytes",
    "Bytes of nginx's access log the collector has not read yet",
    multiprocess_mode="mostrecent",
)
COLLECTOR_LAST_RUN = Gauge(
    "tollgate_collector_last_run_timestamp_seconds",
    "When the collector last finished reading the access log",
    multiprocess_mode="mostrecent",
)
WEBHOOK_FAILURES = Counter(
    "tollgate_webhook_failures",
    "Stripe webhooks refused (stage=signature) or that failed to apply (stage=apply)",
    ["stage"],
)
TASK_FAILURES = Counter("tollgate_task_failures", "Celery tasks that raised", ["task"])


@cache
def decision_metrics(outcome: str, reason: str) -> Counter:
    """The labelled counter child for one outcome and reason, looked up once per process."""
    return DECISIONS.labels(outcome, reason)


class Tally:
    """Decisions counted and timed in plain numbers on the auth server's event loop, added to
    the metrics by ``flush`` (its 100 ms timer). Counting each call in the metrics themselves
    takes three locks, and in production three writes to shared memory: 1.4 µs a call, a
    twentieth of a leased decision. Not thread-safe: one loop's own."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.outcomes: dict[tuple[str, str], int] = {}
        self.buckets = [0] * (len(DECISION_BUCKETS) + 1)  # the last one: +Inf
        self.seconds = 0.0

    def add(self, outcome: str, reason: str, seconds: float) -> None:
        key = (outcome, reason)
        self.outcomes[key] = self.outcomes.get(key, 0) + 1
        # A value on a bound belongs to that bucket ("le"), as observe() counts it.
        self.buckets[bisect_left(DECISION_BUCKETS, seconds)] += 1
        self.seconds += seconds

    def flush(self) -> None:
        if not self.outcomes:
            return
        for (outcome, reason), count in self.outcomes.items():
            decision_metrics(outcome, reason).inc(count)
        DECISION_SECONDS.add_tallied(self.buckets, self.seconds)
        self.reset()


def registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    merged = CollectorRegistry()
    MultiProcessCollector(merged)  # type: ignore[no-untyped-call]  # untyped in the library
    return merged


def has_token(request: HttpRequest) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.encode(), settings.METRICS_TOKEN.encode()
    )


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    # Without a token configured, or with a wrong one, there is nothing here to find.
    if not settings.METRICS_TOKEN or not has_token(request):
        raise Http404
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)
