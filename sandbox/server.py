"""The mock server: one process answering for every product whose test keys go to `mock`.

    granian --interface asgi --host 127.0.0.1 --port 8003 --workers 1 sandbox.server:application

It reads the specs from the database (the catalog `apply_catalog` wrote), so it needs the
portal's settings (DATABASE_URL, REDIS_URL), and builds them again when the catalog changes:
`catalog_applied` publishes `*` on the gateway's invalidation channel, which this process hears
as the auth servers do (core/listener.py). While it cannot hear Redis it rebuilds at most every
GATEWAY_POLICY_TTL_SECONDS, as the gateway's caches expire then. `/livez` and `/readyz` are its
probes (ready once the catalog is loaded). nginx sends it only test keys' calls to `mock`
products (deploy/nginx/gateway.conf.template), with the product's prefix in the path.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)

import anyio.to_thread  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from catalog.models import TEST_ROUTE_MOCK, ApiProduct  # noqa: E402
from core.listener import Listener  # noqa: E402
from gateway.invalidation import CHANNEL, EVERYTHING  # noqa: E402
from sandbox.mock import MockedProduct, build_app  # noqa: E402

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0  # a failed read of the catalog is not retried on every call
UNAVAILABLE = "The sandbox cannot read the API's spec right now: retry shortly."

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def mocked_products() -> list[MockedProduct]:
    try:
        return [
            MockedProduct(p.slug, p.path_prefix, p.openapi_spec)
            for p in ApiProduct.objects.filter(test_route=TEST_ROUTE_MOCK)
            if isinstance(p.openapi_spec, dict)
        ]
    finally:
        # Built in one of anyio's worker threads, rarely: no connection is kept open there.
        connection.close()


class MockServer:
    def __init__(self, load: Callable[[], list[MockedProduct]] = mocked_products) -> None:
        self.load = load
        self.app: ASGIApp | None = None
        self.built_at = 0.0
        self.retry_at = 0.0  # after a failed rebuild: when to try the database again
        self.stale = threading.Event()
        self.stale.set()
        self.lock = anyio.Lock()
        self.listener = Listener(CHANNEL, self._heard, self.stale.set)

    def _heard(self, message: str) -> None:
        if message == EVERYTHING:
            self.stale.set()

    def _outdated(self) -> bool:
        if self.app is None:
            return True
        if time.monotonic() < self.retry_at:  # the database failed a moment ago
            return False
        return self.stale.is_set() or self._expired()

    def _expired(self) -> bool:
        trusted = settings.GATEWAY_POLICY_TTL_SECONDS
        return not self.listener.connected and time.monotonic() - self.built_at > trusted

    async def current(self) -> ASGIApp:
        """The app for the catalog as it is now; while the database cannot be read, the one
        built before (if any: otherwise the error goes to the caller)."""
        self.listener.ensure_running()
        if self._outdated():
            async with self.lock:
                if self._outdated():
                    await self._rebuild()
        assert self.app is not None
        return self.app

    async def _rebuild(self) -> None:
        self.stale.clear()  # a change heard while building marks it stale again
        try:
            products = await anyio.to_thread.run_sync(self.load)
        except Exception:
            if self.app is None:
                raise
            log.warning("Cannot read the catalog: the mock keeps the specs it has", exc_info=True)
            self.stale.set()
            self.retry_at = time.monotonic() + RETRY_SECONDS
            return
        self.app = build_app(products)
        self.built_at = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/livez":
            await plain(send, 200, {"status": "ok"})
            return
        if scope["path"] == "/readyz":
            try:
                await self.current()
            except Exception as error:  # the database or a spec: not ready, say why
                await plain(send, 503, {"status": "unavailable", "detail": str(error)[:200]})
                return
            await plain(send, 200, {"status": "ok"})
            return
        try:
            app = await self.current()
        except Exception:
            log.exception("The mock cannot load the catalog")
            await plain(send, 503, {"code": "unavailable", "message": UNAVAILABLE})
            return
        await app(scope, receive, send)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def plain(send: Send, status: int, payload: dict[str, str]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


application = MockServer()
