"""Django's Redis cache on a Redis Cluster (REDIS_CLUSTER=true).

Django's backend builds a plain redis.Redis per server; this one uses the process's cluster
client (portal.redis_client) and replaces the commands that name several keys at once, which a
cluster refuses across slots, with their per-slot forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from portal.redis_client import get_redis


class RedisClusterCacheClient(RedisCacheClient):
    _serializer: Any  # set by Django's __init__; not in django-stubs

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return get_redis()

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        keys = list(keys)
        values = self.get_client().mget_nonatomic(keys)
        return {
            key: self._serializer.loads(value)
            for key, value in zip(keys, values, strict=True)
            if value is not None
        }

    def set_many(self, data: Mapping[Any, Any], timeout: Any) -> None:
        pipeline = self.get_client().pipeline()  # split per node by the cluster client
        for key, value in data.items():
            pipeline.set(key, self._serializer.dumps(value), ex=timeout)
        pipeline.execute()


class RedisClusterCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisClusterCacheClient
