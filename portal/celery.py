"""The Celery app. Redis is the broker; tasks live in each app's ``tasks.py``."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from celery.signals import task_failure

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("tollgate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="portal.ping")
def ping(value: str) -> str:
    """Echo a value back: lets /healthz and the tests prove a worker is consuming."""
    return value


@task_failure.connect
def count_task_failure(sender: Task[Any, Any] | None = None, **_: Any) -> None:
    from portal.metrics import TASK_FAILURES  # after Django's settings are ready

    TASK_FAILURES.labels(sender.name if sender is not None else "unknown").inc()
