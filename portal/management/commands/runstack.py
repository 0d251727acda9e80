from __future__ import annotations

from io import StringIO
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from portal.stack import Supervisor, all_services, taken_addresses

# The demo API's products and plans; a provider applies their own catalog the same way.
DEMO_CATALOG = str(settings.BASE_DIR / "deploy" / "demo" / "catalog.toml")


class Command(BaseCommand):
    help = "Migrate, load demo data and run the whole stack under one supervisor (make run)."

    def handle(self, *args: Any, **options: Any) -> None:
        services = all_services()
        if taken := taken_addresses(services):
            raise CommandError(
                f"Already in use: {', '.join(taken)}. Is another `make run` still running? Stop "
                "it, or move this stack: PORTAL_PORT moves the portal with the gateway, the demo "
                "API and the auth server beside it; STRIPE_SIMULATOR_PORT moves the simulator."
            )
        supervisor = Supervisor(log=lambda line: self.stdout.write(f"[runstack] {line}"))
        # The embedded Redis starts first, so migrations and the demo data loader find it; the
        # Stripe simulator (when it stands in for Stripe) before the catalog, so applying it
        # mirrors the plans at once instead of warning that Stripe cannot be reached.
        early = ("redis", "stripe-simulator")
        supervisor.start([s for s in services if s.name == "redis"])
        try:
            call_command("migrate", interactive=False, verbosity=0)
            supervisor.start([s for s in services if s.name == "stripe-simulator"])
            call_command("apply_catalog", DEMO_CATALOG, stdout=StringIO())
            demo = call_command("seed_demo", stdout=StringIO())
        except BaseException:
            supervisor.stop_all()
            raise
        supervisor.start([s for s in services if s.name not in early])
        self.stdout.write(self.banner(services, demo))
        raise SystemExit(supervisor.wait())

    def banner(self, services: list[Any], demo: str) -> str:
        width = max(len(s.name) for s in services)
        lines = ["", "Tollgate is running (Ctrl-C stops everything):"]
        for service in services:
            lines.append(f"  {service.name:<{width}}  {service.url or 'running'}")
        lines += ["", demo, ""]
        return "\n".join(lines)
