"""Checks behind GET /healthz: each returns None when healthy, else a short reason."""

from __future__ import annotations

from django.db import connection

from portal.celery import app as celery_app
from portal.redis_client import get_redis

WORKER_PING_TIMEOUT_SECONDS = 1.0


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any driver error means "down"; the class names it
        return type(error).__name__
    return None


def check_redis() -> str | None:
    try:
        get_redis().ping()
    except Exception as error:
        return type(error).__name__
    return None


def check_worker() -> str | None:
    try:
        replies = celery_app.control.ping(timeout=WORKER_PING_TIMEOUT_SECONDS)
    except Exception as error:
        return type(error).__name__
    return None if replies else "no worker answered"


def run_checks() -> dict[str, str | None]:
    results = {"database": check_database(), "redis": check_redis()}
    # Celery talks to workers through Redis: with Redis down, asking would only hang.
    results["worker"] = check_worker() if results["redis"] is None else "broker unreachable"
    return results
