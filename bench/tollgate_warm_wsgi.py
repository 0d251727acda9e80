"""Variant (c2) of `make bench` only: Tollgate with a warm key-record cache.

apikeys/records.py keeps records 5 s until its Redis pub/sub invalidation lands; with 10,000
keys drawn at random that makes nearly every call a database query (a benchmark of a few
seconds never warms up). This loads every key once at start-up and keeps records 300 s: the
steady state of a long-running gateway once revocations reach every process through pub/sub.
"""

from __future__ import annotations

from portal.wsgi import application  # sets Django up first

from apikeys import records  # isort: skip

from apikeys.models import ApiKey  # isort: skip

records.CACHE_TTL_SECONDS = 300.0
for key in ApiKey.objects.iterator():
    records.cache.put(key.key_hash, records.KeyRecord.from_model(key))

__all__ = ["application"]
