"""The auth server: nginx's ``auth_request`` upstream, in server processes of its own.

    granian --interface wsgi --host 127.0.0.1 --port 8002 --workers 2 --blocking-threads 4 \
        --no-ws gateway.server:application

It runs the portal's code with the portal's settings, but its threads serve only
``/gateway/auth`` (``gateway/wsgi.py``) and the probes ``/livez`` and ``/readyz``
(``portal/health.py``); every other path is a 404. No portal page runs here, so however slow
the portal's pages get, or however many anonymous clients ask for them, decisions keep their
own threads.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any
from wsgiref.types import StartResponse

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup(set_prefix=False)

from gateway.wsgi import AUTH_PATH, NOT_FOUND_HEADERS, auth_application  # noqa: E402
from portal.health import PROBE_PATHS, probe_application  # noqa: E402


def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path = environ.get("PATH_INFO")
    if path == AUTH_PATH:
        return auth_application(environ, start_response)
    if path in PROBE_PATHS:
        return probe_application(environ, start_response)
    start_response("404 Not Found", NOT_FOUND_HEADERS)
    return [b"Not Found"]
