"""``/gateway/auth``: the plain WSGI callable nginx's auth_request calls, served before Django.

No middleware, no URL resolver, no request object: it reads four headers, calls
``decide.decide`` and answers with no body (so nginx keeps the connection alive). It uses
Django's settings and, only on cache misses, its ORM.
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
from django.db import close_old_connections

from gateway import counting, invalidation
from gateway.decide import call_from_environ, decide, refuse
from portal.metrics import DECISION_SECONDS, decision_metrics
from portal.request_id import clean as clean_request_id

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
    return hmac.compare_digest(sent.encode(), settings.GATEWAY_SECRET.encode())


def auth_application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if not has_gateway_secret(environ):
        # Without the secret the endpoint does not exist, as far as anyone can tell.
        start_response("404 Not Found", NOT_FOUND_HEADERS)
        return [b"Not Found"]
    if _prepared_pid != os.getpid():
        prepare_process()
    started = time.perf_counter()
    try:
        decision = decide(call_from_environ(environ), time.time())
    except Exception:
        # nginx turns a 5xx into a bare 500: say "unavailable" so it can answer 503 in JSON.
        # A database error leaves this thread's connection unusable: drop it.
        request_id = clean_request_id(environ.get("HTTP_X_REQUEST_ID"))
        log.exception("gateway: could not decide", extra={"request_id": request_id})
        close_old_connections()
        decision = refuse(403, "unavailable", 1)
    DECISION_SECONDS.observe(time.perf_counter() - started)
    decision_metrics("admitted" if decision.admitted else "refused", decision.reason or "ok").inc()
    start_response(STATUS_LINES[decision.status], decision.headers)
    return []
