from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from gateway.signing import PUBLISH_MARGIN_SECONDS, RotationTooSoon, rotate


class Command(BaseCommand):
    help = (
        "Replace the key that signs entitlement tokens. The old key stays in the JWKS for the "
        "token lifetime, so tokens it signed keep verifying until they expire."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="rotate even while the previous key is still published (its tokens, at most "
            "ENTITLEMENT_TOKEN_SECONDS old, stop verifying): for a leaked key",
        )

    def handle(self, *args: Any, force: bool, **options: Any) -> None:
        path = Path(settings.ENTITLEMENT_SIGNING_KEY_FILE)
        try:
            new_kid, old_kid = rotate(path, time.time(), force=force)
        except RotationTooSoon as error:
            raise CommandError(f"not rotated: {error} (--force drops it)") from None
        except (OSError, ValueError) as error:
            raise CommandError(f"not rotated: {error}") from None
        published = settings.ENTITLEMENT_TOKEN_SECONDS + PUBLISH_MARGIN_SECONDS
        self.stdout.write(
            f"entitlement signing key rotated: now {new_kid}"
            + (f", {old_kid} published for {published} s more" if old_kid else "")
        )  # fmt: skip
