"""The Stripe simulator as a `make run` service, when no Stripe key is configured."""

from __future__ import annotations

import sys

from django.conf import settings

from portal.stack import Service


def stripe_simulator_service() -> list[Service]:
    if not settings.STRIPE_USES_SIMULATOR:
        return []
    port = settings.STRIPE_SIMULATOR_PORT
    argv = [sys.executable, "manage.py", "stripe_simulator", "--port", str(port)]
    return [Service("stripe-simulator", argv, url=f"http://127.0.0.1:{port} (offline Stripe)")]
