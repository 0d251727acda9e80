from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Account
from apikeys.models import ApiKey, Environment, KeyActionError


class Command(BaseCommand):
    help = "Issue an API key for an account and print the raw key (alone) on stdout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--account", required=True, help="account slug or owner's email")
        parser.add_argument("--name", default="Issued by an administrator")
        parser.add_argument("--env", choices=Environment.values, default=Environment.LIVE)
        parser.add_argument(
            "--ignore-limit", action="store_true", help="issue even beyond the plan's key cap"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            account = Account.objects.by_slug_or_owner_email(options["account"])
        except (Account.DoesNotExist, Account.MultipleObjectsReturned):
            raise CommandError(f"No single account matches {options['account']!r}") from None
        if account.closed_at is not None:
            raise CommandError(f"The account {account.slug} is closed")
        try:
            key, raw = ApiKey.objects.issue(
                account,
                name=options["name"],
                environment=options["env"],
                enforce_limit=not options["ignore_limit"],
            )
        except KeyActionError as error:
            raise CommandError(f"{error.message} (or pass --ignore-limit)") from None
        self.stderr.write(f"Issued {key.public_id} ({key.masked}) for {account.slug}")
        self.stdout.write(raw)
