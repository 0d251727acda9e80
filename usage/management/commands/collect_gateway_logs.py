from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from eventstream import publisher
from portal.metrics import COLLECTOR_LAST_RUN
from usage.collector import collect_once

POLL_SECONDS = 1.0


class Command(BaseCommand):
    help = "Read nginx's JSON access log into status and latency stats (--follow keeps reading)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--path", default=str(settings.GATEWAY_ACCESS_LOG))
        parser.add_argument("--follow", action="store_true", help="keep reading as the log grows")

    def handle(self, *args: Any, path: str, follow: bool, **options: Any) -> None:
        log_path = Path(path)
        while True:
            lines = collect_once(log_path)
            while lines:  # drain a backlog before sleeping
                lines = collect_once(log_path)
            COLLECTOR_LAST_RUN.set_to_current_time()
            if publisher.enabled():  # in addition to the rollups, from a cursor of its own
                publisher.publish_available(log_path)
            if not follow:
                return
            time.sleep(POLL_SECONDS)
