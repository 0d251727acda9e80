from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apikeys.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key by its id (key_…) or its display prefix (e.g. tg_live_4fQz)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", help="key id or display prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        value = options["key"].strip()
        matches = list(
            ApiKey.objects.filter(public_id=value)
            or ApiKey.objects.filter(prefix=value, revoked_at__isnull=True)
        )
        if not matches:
            raise CommandError(f"No key has the id or display prefix {value!r}")
        if len(matches) > 1:
            found = ", ".join(k.public_id for k in matches)
            raise CommandError(f"{value!r} matches several keys ({found}); give the key id")
        key = matches[0]
        if key.revoke():
            self.stdout.write(f"Revoked {key.public_id} ({key.masked}) of {key.account.slug}")
        else:
            self.stdout.write(f"{key.public_id} was already revoked")
