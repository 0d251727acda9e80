"""``/gateway/auth`` as a plain WSGI callable, and what every way of serving it shares.

No middleware, no URL resolver, no request object: it reads a few headers, calls
``decide.decide`` and answers with no body (so nginx keeps the connection alive). It uses
Django's settings and, only on cache misses, its ORM. The auth server (gateway/server.py,
gateway/worker.py) serves the same decision (``decision_for``) on an event loop; this callable
serves it in tests, in process.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse

import redis
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation
from django.db import close_old_connections

from gateway import counting, invalidation
from gateway.decide import Decision, call_from_environ, decide, refuse
from portal.health import PROBE_PATHS, probe_application
from portal.metrics import DECISION_SECONDS, decision_metrics
from portal.request_id import clean as clean_request_id
from portal.setting_cache import kept_until_changed

AUTH_PATH = "/gateway/auth"
log = logging.getLogger(__name__)

STATUS_LINES = {204: "204 No Content", 401: "401 Unauthorized", 403: "403 Forbidden"}
NOT_FOUND_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", "9")]


_prepared_pid: int | None = None


def prepare_process() -> None:
    """Once per (forked) server process: listen for invalidations, pre-load the Lua script."""
    global _prepared_pid
    _prepared_pid = os.getpid()
    invalidation.ensure_listening()
    try:
        counting.preload()
    except redis.RedisError:
        log.warning("gateway: could not pre-load the Lua script; loading it on first use")


def has_gateway_secret(environ: dict[str, Any]) -> bool:
    sent = environ.get("HTTP_X_GATEWAY_SECRET", "")
    return hmac.compare_digest(sent.encode(), _gateway_secret())


@kept_until_changed("GATEWAY_SECRET")
def _gateway_secret() -> bytes:
    # Kept: read from Django's lazy settings on every call it cost a microsecond or two when
    # the CPU's caches are cold (one connection).
    return settings.GATEWAY_SECRET.encode()


def decision_for(environ: dict[str, Any]) -> Decision:
    """The decision on a call, from its WSGI-style environ; 403 ``unavailable`` if deciding
    fails (nginx turns a 5xx into a bare 500, ``unavailable`` lets it answer 503 in JSON)."""
    try:
        return decide(call_from_environ(environ), time.time())
    except SynchronousOnlyOperation:
        raise  # on the asyncio server's loop: it runs the decision on a thread (worker.py)
    except Exception:
        # A database error leaves this thread's connection unusable: drop it.
        request_id = clean_request_id(environ.get("HTTP_X_REQUEST_ID"))
        log.exception("gateway: could not decide", extra={"request_id": request_id})
        close_old_connections()
        return refuse(403, "unavailable", 1)


def recorded(decision: Decision, started: float) -> Decision:
    DECISION_SECONDS.observe(time.perf_counter() - started)
    decision_metrics("admitted" if decision.admitted else "refused", decision.reason or "ok").inc()
    return decision


def auth_application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if not has_gateway_secret(environ):
        # Without the secret the endpoint does not exist, as far as anyone can tell.
        start_response("404 Not Found", NOT_FOUND_HEADERS)
        return [b"Not Found"]
    if _prepared_pid != os.getpid():
        prepare_process()
    started = time.perf_counter()
    decision = recorded(decision_for(environ), started)
    start_response(STATUS_LINES[decision.status], decision.headers)
    return []


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The auth server's routes as one WSGI callable (the asyncio server routes alike)."""
    path = environ.get("PATH_INFO")
    if path == AUTH_PATH:
        return auth_application(environ, start_response)
    if path in PROBE_PATHS:
        return probe_application(environ, start_response)
    start_response("404 Not Found", NOT_FOUND_HEADERS)
    return [b"Not Found"]
