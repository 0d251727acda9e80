"""One Redis connection pool per process, shared by everything that is not Celery."""

from __future__ import annotations

from functools import cache
from typing import Any

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

SOCKET_TIMEOUT_SECONDS = 1.0

# What code that talks to Redis takes: redis-py's client of one server, or of a cluster.
Redis = redis.Redis | redis.RedisCluster


@cache
def get_redis() -> Redis:
    """REDIS_URL names the server, or with REDIS_CLUSTER any node of the cluster (the client
    learns the others and the slot map from it)."""
    if settings.REDIS_CLUSTER:
        return redis.RedisCluster.from_url(
            settings.REDIS_URL,
            socket_timeout=SOCKET_TIMEOUT_SECONDS,
            socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        )
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=SOCKET_TIMEOUT_SECONDS,
        socket_connect_timeout=SOCKET_TIMEOUT_SECONDS,
        health_check_interval=30,
    )


@receiver(setting_changed, dispatch_uid="portal.redis_client.reset")
def reset_when_redis_url_changes(setting: str, **_: Any) -> None:
    if setting in ("REDIS_URL", "REDIS_CLUSTER"):
        get_redis.cache_clear()
