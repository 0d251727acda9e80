"""One Redis connection pool per process, shared by everything that is not Celery."""

from __future__ import annotations

from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SOCKET_TIMEOUT_SECONDS = 1.0

# What code that talks to Redis takes: redis-py's client of one server (or of a cluster).
Redis = redis.Redis


@cache
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


@receiver(setting_changed, dispatch_uid="portal.redis_client.reset")
def reset_when_redis_url_changes(setting: str, **_: Any) -> None:
    if setting == "REDIS_URL":
        get_redis.cache_clear()
