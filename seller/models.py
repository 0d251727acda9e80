from __future__ import annotations

from django.db import models


class ConsoleSnapshot(models.Model):
    """The console's usage figures across every account (top consumers, endpoint popularity,
    refusals, calls a day), as of `computed_at`: seller/snapshot.py writes one every
    SELLER_CONSOLE_REFRESH_SECONDS from Celery beat, so the page reads one row instead of
    summing every account's last 30 days of rollups on each view."""

    computed_at = models.DateTimeField(db_index=True)
    figures = models.JSONField()

    def __str__(self) -> str:
        return f"console figures as of {self.computed_at:%Y-%m-%d %H:%M}"
