from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from stripe_simulator.server import build_server


class Command(BaseCommand):
    help = "Run the offline Stripe simulator (API subset, hosted Checkout/Portal, signed webhooks)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=12111)
        parser.add_argument("--webhook-url", default=f"{settings.SITE_URL}/billing/webhook")
        parser.add_argument("--webhook-secret", default=settings.STRIPE_WEBHOOK_SECRET)
        parser.add_argument(
            "--state",
            default="",
            help="JSON file keeping the simulator's objects across restarts (default: in memory)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        server, _ = build_server(
            options["host"],
            options["port"],
            options["webhook_url"],
            options["webhook_secret"],
            Path(options["state"]) if options["state"] else None,
        )
        self.stdout.write(
            f"Stripe simulator on http://{options['host']}:{options['port']}, "
            f"webhooks to {options['webhook_url']}"
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
