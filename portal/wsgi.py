"""WSGI entry point. The gateway's auth_request fast path is dispatched here, before Django."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

django_application = get_wsgi_application()

from gateway.wsgi import AUTH_PATH, auth_application  # noqa: E402  (needs setup)


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == AUTH_PATH:
        return auth_application(environ, start_response)
    return django_application(environ, start_response)
