"""The request id nginx sends (``X-Request-Id: $request_id``), on every log line of its request.

nginx makes one id per client request and passes it to the portal and to the auth server, and
writes it to its access log; the portal echoes it back in its response. A value that is not a
short token is ignored, so a client cannot inject text into the logs through the header.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-Id"
SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

current_request_id: ContextVar[str] = ContextVar("request_id", default="-")


def clean(value: str | None) -> str:
    return value if value and SAFE_ID.fullmatch(value) else "-"


class RequestIdFilter(logging.Filter):
    """Gives every record a ``request_id`` (the current request's, or "-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = clean(request.headers.get(HEADER))
        # Kept until the response is closed: Django logs a 404 or 500 after the middleware
        # has returned.
        current_request_id.set(request_id)
        response = self.get_response(request)
        if request_id != "-":
            response[HEADER] = request_id
        return response


@receiver(request_finished, dispatch_uid="portal.request_id.forget")
def forget_request_id(**_: Any) -> None:
    current_request_id.set("-")
