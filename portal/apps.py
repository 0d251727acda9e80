from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        checks.register(short_secrets, checks.Tags.security, deploy=True)


def short_secrets(**kwargs: Any) -> list[checks.CheckMessage]:
    """Secrets production accepts but would rather were longer (portal.production)."""
    from portal import production

    cautions = production.secret_cautions({"APIKEY_PEPPER": settings.APIKEY_PEPPER})
    return [checks.Warning(caution, id="portal.W001") for caution in cautions]
