from __future__ import annotations

from celery import shared_task

from portal.redis_client import get_redis
from usage.flush import flush


@shared_task(name="usage.flush_counters")
def flush_counters() -> str:
    summary = flush(get_redis())
    return f"claimed {summary.claimed}, applied {summary.applied} ({summary.calls} calls)"
