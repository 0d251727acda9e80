from __future__ import annotations

import os
import shutil
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx")


class Command(BaseCommand):
    help = "Render the gateway's nginx config for the current catalog, then run nginx in its place."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--run-dir", required=True)
        parser.add_argument("--listen", required=True)
        parser.add_argument("--auth", default=settings.AUTH_SERVER_ADDRESS)
        parser.add_argument("--portal", required=True)
        parser.add_argument("--upstream", action="append", default=[])
        parser.add_argument("--mock", default=settings.MOCK_SERVER_ADDRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        nginx = next(filter(None, map(shutil.which, NGINX_CANDIDATES)), None)
        if nginx is None:
            raise CommandError("nginx is not installed: run 'sudo apt-get install nginx'")
        conf = call_command(
            "gateway_config", run_dir=options["run_dir"], listen=options["listen"],
            auth=options["auth"], portal=options["portal"], upstream=options["upstream"],
            mock=options["mock"],
        )  # fmt: skip
        # exec, not a child: the supervisor's SIGTERM then reaches nginx itself.
        os.execv(nginx, [nginx, "-p", options["run_dir"], "-c", conf, "-g", "daemon off;"])  # noqa: S606
