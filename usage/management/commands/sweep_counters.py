from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from portal.redis_client import get_redis
from usage.flush import sweep


class Command(BaseCommand):
    help = (
        "Register every usage hash and batch in Redis with its account and mark the account for "
        "the flush. Run once when upgrading from a release without per-account usage sets; the "
        "hourly usage.sweep_counters task does the same."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"{sweep(get_redis())} accounts marked for the usage flush")
