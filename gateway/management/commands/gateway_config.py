from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template import Context, Engine

from catalog.models import ApiProduct

TEMPLATE = settings.BASE_DIR / "deploy" / "nginx" / "gateway.conf.template"


def address_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise CommandError(f"upstream {url!r} must be an http:// URL with a host")
    return f"{parts.hostname}:{parts.port or 80}"


def render(options: dict[str, Any]) -> str:
    """The nginx config for every product in the catalog (see deploy/nginx/)."""
    run_dir = Path(options["run_dir"]).resolve()
    if any("=" not in item for item in options["upstream"]):
        raise CommandError("--upstream takes SLUG=URL")
    overrides = dict(item.split("=", 1) for item in options["upstream"])
    products = [
        {
            "slug": p.slug,
            "slug_ident": re.sub(r"\W", "_", p.slug),
            "path_prefix": p.path_prefix,
            "address": address_of(overrides.get(p.slug, p.upstream_url)),
        }
        for p in ApiProduct.objects.order_by("-path_prefix")
    ]
    engine = Engine(autoescape=False)
    return engine.from_string(TEMPLATE.read_text()).render(
        Context({
            "rendered_by": "manage.py gateway_config",
            "run_dir": run_dir,
            "conf_path": run_dir / "nginx.conf",
            "workers": options["workers"],
            "listen": options["listen"],
            "auth_address": options["auth"],
            "portal_address": options["portal"],
            "products": products,
            "secret": settings.GATEWAY_SECRET,
            "strip_key": settings.GATEWAY_STRIP_KEY,
            # Browsers on the portal's docs pages call the API ("try it"): let that origin in.
            "portal_origin": settings.SITE_URL,
            "access_log": not options["no_access_log"],
        })
    )  # fmt: skip


class Command(BaseCommand):
    help = "Render the nginx gateway config for the catalog into RUN_DIR/nginx.conf."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run-dir", default=str(settings.VAR_DIR / "nginx"))
        parser.add_argument("--listen", default="127.0.0.1:8080")
        parser.add_argument(
            "--auth", default=settings.AUTH_SERVER_ADDRESS, help="the auth server's host:port"
        )
        parser.add_argument("--portal", default="127.0.0.1:8000")
        parser.add_argument("--workers", default="2")
        parser.add_argument("--no-access-log", action="store_true")
        parser.add_argument(
            "--upstream", action="append", default=[], metavar="SLUG=URL",
            help="use URL instead of the product's upstream_url (tests, benchmarks)",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> str:
        run_dir = Path(options["run_dir"])
        run_dir.mkdir(parents=True, exist_ok=True)
        conf = run_dir / "nginx.conf"
        # The file holds the gateway secret: readable by its owner only.
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(render(options))
        return str(conf)  # printed by Django
