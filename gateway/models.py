from __future__ import annotations

from django.db import models


class UncountedCall(models.Model):
    """A call admitted while Redis was unreachable (GATEWAY_ON_REDIS_DOWN=allow).

    Written durably on the hot path instead of the Redis counters, so the usage job can count
    (and bill) it later. Rows are never updated; the usage job deletes what it has counted.
    """

    account_id = models.BigIntegerField(db_index=True)
    key_id = models.CharField(max_length=24)
    environment = models.CharField(max_length=4)
    product = models.CharField(max_length=50)
    endpoint_group = models.CharField(max_length=200)
    # The endpoint's cost (catalog.operations); the database's default serves the previous release.
    units = models.PositiveIntegerField(default=1, db_default=1)
    admitted_at = models.DateTimeField()

    class Meta:
        ordering = ["admitted_at", "id"]

    def __str__(self) -> str:
        return f"{self.key_id} {self.endpoint_group} at {self.admitted_at:%Y-%m-%d %H:%M:%S}"
