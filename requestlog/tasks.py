from __future__ import annotations

from celery import shared_task

from requestlog.recording import prune


@shared_task(name="requestlog.prune")
def prune_request_log() -> str:
    return f"pruned {prune()} logged requests"
