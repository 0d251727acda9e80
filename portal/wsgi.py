"""The portal's WSGI entry: the health probes (``/livez``, ``/readyz``, ``/healthz``) are answered
here, before Django's middleware (so a probe by IP address needs no ``ALLOWED_HOSTS`` entry),
everything else by Django.

The gateway's decision is not served here: it has its own server (``gateway/server.py``), so
no portal page, however slow, ever holds a thread a decision needs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

django_application = get_wsgi_application()

from portal.health import PORTAL_PROBE_PATHS, probe_application  # noqa: E402  (needs setup)


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") in PORTAL_PROBE_PATHS:
        return probe_application(environ, start_response)
    return django_application(environ, start_response)
