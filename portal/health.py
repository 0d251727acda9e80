"""Health of a server process: ``/livez``, ``/readyz`` and the portal's ``/healthz`` page.

- ``/livez``: the process answers. It asks no dependency, so a database outage never makes an
  orchestrator restart healthy processes.
- ``/readyz``: the database, Redis and the Celery broker answer: send this process traffic.
- ``/healthz`` (the portal's status page): the same checks plus "a Celery worker answers".

Both servers (the portal and the auth server, ``gateway/server.py``) answer ``/livez`` and
``/readyz`` here, and the portal ``/healthz`` too, before Django's middleware: probes by IP
address need no ``ALLOWED_HOSTS`` entry and are never redirected to HTTPS.

Anyone may ask, as often as they like: each process runs a round of checks at most once per
``CHECK_CACHE_SECONDS``, and while one thread runs them the others answer from the previous
round instead of waiting or asking again. A flood of probes therefore costs a few queries per
process every few seconds, never a query (or a Celery broadcast) per request.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar
from wsgiref.types import StartResponse

from django.db import close_old_connections, connection

from portal.celery import app as celery_app
from portal.redis_client import get_redis

CHECK_CACHE_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 1
LIVEZ_PATH, READYZ_PATH, HEALTHZ_PATH = "/livez", "/readyz", "/healthz"
# What every server answers before anything else (the auth server too).
PROBE_PATHS = frozenset({LIVEZ_PATH, READYZ_PATH})
# The portal adds its status page: it asks for a Celery worker, which the auth server never needs.
PORTAL_PROBE_PATHS = PROBE_PATHS | {HEALTHZ_PATH}

Results = dict[str, str | None]  # check name → None when healthy, else a short reason
T = TypeVar("T")


def check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:  # any driver error means "down"; the class names it
        return type(error).__name__
    return None


def check_redis() -> str | None:
    try:
        get_redis().ping()
    except Exception as error:
        return type(error).__name__
    return None


def check_broker() -> str | None:
    try:
        with celery_app.connection_for_write() as broker:
            broker.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=CHECK_TIMEOUT_SECONDS
            )
    except Exception as error:
        return type(error).__name__
    return None


def check_worker() -> str | None:
    try:
        # limit=1: return as soon as one worker answers, instead of waiting out the timeout.
        replies = celery_app.control.ping(timeout=CHECK_TIMEOUT_SECONDS, limit=1)
    except Exception as error:
        return type(error).__name__
    return None if replies else "no worker answered"


def readiness_checks() -> Results:
    return {"database": check_database(), "redis": check_redis(), "broker": check_broker()}


def status_checks() -> Results:
    results = readiness_checks()
    # Celery talks to workers through the broker: with it down, asking would only hang.
    results["worker"] = check_worker() if results["broker"] is None else "broker unreachable"
    return results


class Cached(Generic[T]):
    """``compute()`` at most once per ``seconds`` in this process. A caller that finds the value
    stale while another thread is refreshing it gets the previous value; only the very first
    callers wait."""

    def __init__(self, compute: Callable[[], T], seconds: float) -> None:
        self.compute = compute
        self.seconds = seconds
        self._lock = threading.Lock()
        self._value: T | None = None
        self._expires = 0.0

    def get(self) -> T:
        if time.monotonic() >= self._expires and self._lock.acquire(blocking=self._value is None):
            try:
                if time.monotonic() >= self._expires:
                    self._value = self.compute()
                    self._expires = time.monotonic() + self.seconds
            finally:
                self._lock.release()
        assert self._value is not None  # set by whoever held the lock first
        return self._value

    def forget(self) -> None:
        """The next ``get`` computes afresh (after a deliberate change, and in tests)."""
        with self._lock:
            self._value, self._expires = None, 0.0


readiness = Cached(readiness_checks, CHECK_CACHE_SECONDS)
status = Cached(status_checks, CHECK_CACHE_SECONDS)


def report(results: Results) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body that show ``results``: 200 when all is well, else 503."""
    down = sorted(name for name, problem in results.items() if problem)
    body = {
        "status": "down" if down else "ok",
        "down": down,
        "checks": {
            name: {"ok": problem is None, **({"error": problem} if problem else {})}
            for name, problem in results.items()
        },
    }
    return (503 if down else 200), body


STATUS_LINES = {200: "200 OK", 405: "405 Method Not Allowed", 503: "503 Service Unavailable"}


def probe_answer(path: str) -> tuple[int, dict[str, Any]]:
    """The status and body of one probe: ``/livez`` asks nothing, ``/healthz`` the status
    checks, anything else the readiness checks."""
    if path == LIVEZ_PATH:
        return 200, {"status": "ok"}
    results = status.get() if path == HEALTHZ_PATH else readiness.get()
    # Outside Django's request cycle: close a broken or expired connection as it would.
    close_old_connections()
    return report(results)


def probe_application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """The probes as a plain WSGI callable (no middleware, no URL resolver); each server
    routes only its own probe paths here."""
    if environ.get("REQUEST_METHOD") not in ("GET", "HEAD"):
        code, body = 405, {"code": "method_not_allowed", "detail": "Use GET."}
    else:
        code, body = probe_answer(environ.get("PATH_INFO", ""))
    payload = json.dumps(body).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(payload))),
        ("Cache-Control", "no-store"),
    ]
    start_response(STATUS_LINES[code], headers + ([("Allow", "GET, HEAD")] if code == 405 else []))
    return [] if environ.get("REQUEST_METHOD") == "HEAD" else [payload]
