from __future__ import annotations

from django.db import models


class StreamCursor(models.Model):
    """How far the stream publisher has read an access log. Apart from the collector's cursor:
    a broker that is down delays the stream, never the rollups."""

    path = models.CharField(max_length=500, unique=True)
    inode = models.PositiveBigIntegerField(default=0)
    offset = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.path} @ {self.offset}"
