"""One Redis connection pool per process, shared by everything that is not Celery."""

from __future__ import annotations

import redis
from django.conf import settings

from portal.setting_cache import kept_until_changed

SOCKET_TIMEOUT_SECONDS = 1.0

# What code that talks to Redis takes: redis-py's client of one server, or of a cluster.
Redis = redis.Redis | redis.RedisCluster


@kept_until_changed("REDIS_URL", "REDIS_CLUSTER")
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
