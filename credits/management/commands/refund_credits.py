from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from credits import ledger


class Command(BaseCommand):
    help = (
        "Take back what is left of a credit purchase or top-up after refunding its payment in "
        "the Stripe Dashboard: a refund entry in the ledger, taken from the gateway's balance."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("reference", help="the purchase's Checkout Session or PaymentIntent id")

    def handle(self, *args: Any, reference: str, **options: Any) -> None:
        try:
            entry = ledger.refund(reference)
        except ledger.LedgerError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"refunded {-entry.units} units of {reference}")
