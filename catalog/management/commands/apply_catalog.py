from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.applying import CatalogError, apply_catalog, read_catalog


class Command(BaseCommand):
    help = "Create or update API products and plans from a TOML file; retire plans it omits."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        try:
            report = apply_catalog(read_catalog(file), file.resolve().parent)
        except CatalogError as error:
            raise CommandError(f"catalog not applied, nothing changed: {error}") from None
        self.stdout.write(f"catalog applied: {report.summary()}")
