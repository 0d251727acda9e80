from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from billing import flows


class Command(BaseCommand):
    help = "Compare every account's subscriptions and invoices with Stripe and repair drift."

    def handle(self, *args: Any, **options: Any) -> None:
        changes = flows.reconcile()
        self.stdout.write(f"reconcile_stripe: {changes} change(s)")
