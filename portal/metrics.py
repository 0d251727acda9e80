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
DECISION_SECONDS = Histogram(
    "tollgate_decision_seconds",
    "Time the auth server spends deciding one call",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5),
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
