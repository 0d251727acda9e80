"""The Stripe simulator as a `make run` service, when no Stripe key is configured."""

from __future__ import annotations

import logging
import socket
import sys
import time

from django.conf import settings

from billing.catalog_sync import sync_catalog
from billing.gateway import BillingError
from portal.stack import Service

log = logging.getLogger(__name__)


def stripe_simulator_service() -> list[Service]:
    if not settings.STRIPE_USES_SIMULATOR:
        return []
    port = settings.STRIPE_SIMULATOR_PORT
    state = settings.VAR_DIR / "stripe-simulator.json"
    argv = [
        sys.executable,
        "manage.py",
        "stripe_simulator",
        "--port",
        str(port),
        "--state",
        str(state),
    ]
    return [
        Service(
            "stripe-simulator",
            argv,
            url=f"http://127.0.0.1:{port} (offline Stripe: card 4242 4242 4242 4242)",
            wait_ready=lambda: ready_then_mirror_catalog(port),
            address=("127.0.0.1", port),
        )
    ]


def ready_then_mirror_catalog(port: int, timeout: float = 30.0) -> None:
    """Wait for the simulator, then mirror the catalog's plans to it (idempotent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    try:
        sync_catalog()
    except BillingError as error:
        log.warning("could not mirror the catalog to the Stripe simulator: %s", error)
