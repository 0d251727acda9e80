"""The demo API `make run` serves behind the gateway: a tiny WSGI app, no Django.

It trusts the identity headers nginx adds after Tollgate admitted the call (X-Consumer-Id,
X-Key-Id, X-Plan, X-Environment); it never sees the raw key.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

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
    except ValueError:
        return error(start_response, "400 Bad Request", "bad_json", "The body is not JSON")
    return respond(start_response, "200 OK", {"body": body, "headers": received_headers(environ)})


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
    plan = environ.get("HTTP_X_PLAN", "")
    if (method, path) == ("GET", "/demo/hello"):
        return respond(
            start_response, "200 OK", {"message": "Hello from the demo API", "plan": plan}
        )
    if method == "GET" and (match := ITEM.fullmatch(path)):
        item_id = int(match.group(1))
        if item_id > 1000:
            return error(start_response, "404 Not Found", "not_found", f"No item {item_id}")
        return respond(start_response, "200 OK", {"id": item_id, "name": f"Item {item_id}"})
    if (method, path) == ("POST", "/demo/echo"):
        return echo(environ, start_response)
    if (method, path) == ("GET", "/demo/reports"):
        return respond(
            start_response,
            "200 OK",
            {"report": "monthly", "consumer": environ.get("HTTP_X_CONSUMER_ID")},
        )
    return error(start_response, "404 Not Found", "not_found", f"No route {method} {path}")
