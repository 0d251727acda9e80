"""The demo API `make run` serves behind the gateway: a tiny WSGI app, no Django.

Every call must carry the entitlement token Tollgate signed (``Tollgate-Entitlements``, which
nginx sets): the demo verifies it against the portal's JWKS (``DEMO_API_JWKS_URL``, by default
``SITE_URL``/.well-known/jwks.json), its issuer (``SITE_URL``) and audience (the product,
``demo``), and answers 401 ``invalid_entitlements`` otherwise, so a caller that reaches it
around the gateway gets nothing. Responses change with the plan's features: ``insights`` adds a
field to an item, ``report_rows`` caps a report. It never sees the raw key.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

import jwt

StartResponse = Callable[[str, list[tuple[str, str]]], object]
IDENTITY = ("HTTP_X_CONSUMER_ID", "HTTP_X_KEY_ID", "HTTP_X_PLAN", "HTTP_X_ENVIRONMENT")
ITEM = re.compile(r"/demo/items/(\d{1,9})")
MAX_BODY = 64 * 1024


def respond(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def error(start_response: StartResponse, status: str, code: str, message: str) -> list[bytes]:
    return respond(start_response, status, {"code": code, "message": message})


def received_headers(environ: dict[str, Any]) -> dict[str, str]:
    return {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}


def echo(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > MAX_BODY:
        return error(start_response, "413 Content Too Large", "too_large", "64 KiB at most")
    raw = environ["wsgi.input"].read(length) if length else b""
    try:
        body = json.loads(raw or b"null")
    except (ValueError, RecursionError):  # RecursionError: nested too deeply to parse
        return error(start_response, "400 Bad Request", "bad_json", "The body is not JSON")
    return respond(start_response, "200 OK", {"body": body, "headers": received_headers(environ)})


ISSUER = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
JWKS_URL = os.environ.get("DEMO_API_JWKS_URL", f"{ISSUER}/.well-known/jwks.json")
AUDIENCE = "demo"
# An unknown kid fetches the set again (a rotation), at most this often: forged tokens with
# made-up kids cannot make the demo hammer the portal.
REFETCH_SECONDS = 10.0
MAX_AGE_SECONDS = 300.0  # and it is re-read this often anyway, so a withdrawn key goes


class Jwks:
    def __init__(self, url: str) -> None:
        self.url = url
        self.keys: dict[str, jwt.PyJWK] = {}
        self.fetched_at = -math.inf
        self.lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK | None:
        key = self.keys.get(kid)
        if key is not None and time.monotonic() - self.fetched_at < MAX_AGE_SECONDS:
            return key
        with self.lock:  # one fetch at a time; the callers waiting for it use its result
            age = time.monotonic() - self.fetched_at
            if age > MAX_AGE_SECONDS or (kid not in self.keys and age > REFETCH_SECONDS):
                self.fetch()
        return self.keys.get(kid)

    def fetch(self) -> None:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as answer:  # noqa: S310  (ours)
                found = jwt.PyJWKSet.from_dict(json.load(answer))
        except (OSError, ValueError, jwt.PyJWTError):
            # The portal did not answer: try again in a second, not at every call.
            self.fetched_at = time.monotonic() - REFETCH_SECONDS + 1
            raise
        self.keys = {key.key_id: key for key in found.keys if key.key_id}
        self.fetched_at = time.monotonic()


jwks = Jwks(JWKS_URL)


def entitlements(environ: dict[str, Any]) -> dict[str, Any] | None:
    """The verified claims of the call's token, or None (missing, forged, expired...)."""
    token = environ.get("HTTP_TOLLGATE_ENTITLEMENTS", "")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        key = jwks.key(kid) if isinstance(kid, str) else None
        if key is None:
            return None
        claims: dict[str, Any] = jwt.decode(
            token, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER, leeway=30,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "plan", "features"]},
        )  # fmt: skip
    except (jwt.PyJWTError, OSError, ValueError):
        return None
    return claims if isinstance(claims.get("features"), dict) else None


def item(item_id: int, features: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": item_id, "name": f"Item {item_id}"}
    if features.get("insights") is True:  # only plans with the feature see this field
        body["insights"] = {"views_last_30_days": item_id * 7 % 1000, "trend": "rising"}
    return body


def report(features: dict[str, Any]) -> dict[str, Any]:
    rows = features.get("report_rows")
    rows = rows if isinstance(rows, int) and not isinstance(rows, bool) else 0
    shown = min(rows, 5)  # the demo lists a few; the limit itself comes from the plan
    return {"report": "usage", "row_limit": rows, "rows": [{"n": n} for n in range(shown)]}


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    claims = entitlements(environ)
    if claims is None:
        return error(
            start_response, "401 Unauthorized", "invalid_entitlements",
            "This API is served through the gateway only: no valid entitlement token.",
        )  # fmt: skip
    plan, features = claims["plan"], claims["features"]
    if (method, path) == ("GET", "/demo/hello"):
        return respond(
            start_response, "200 OK", {"message": "Hello from the demo API", "plan": plan}
        )
    if method == "GET" and (match := ITEM.fullmatch(path)):
        item_id = int(match.group(1))
        if item_id > 1000:
            return error(start_response, "404 Not Found", "not_found", f"No item {item_id}")
        return respond(start_response, "200 OK", item(item_id, features))
    if (method, path) == ("POST", "/demo/echo"):
        return echo(environ, start_response)
    if (method, path) == ("GET", "/demo/reports"):
        return respond(start_response, "200 OK", {"report": "monthly", "consumer": claims["sub"]})
    if (method, path) == ("POST", "/demo/reports"):
        return respond(start_response, "201 Created", report(features))
    return error(start_response, "404 Not Found", "not_found", f"No route {method} {path}")
