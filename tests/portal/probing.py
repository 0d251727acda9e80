"""Probes as an orchestrator sends them: to the WSGI entry itself, by IP address."""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager

from django.db import connection

from tests.helpers import free_port


def portal_app():
    from portal.wsgi import application

    return application


def auth_server_app():
    """The auth server's routes as a WSGI callable; the asyncio server (gateway/worker.py)
    answers the probes with this same code (tests/e2e/test_production.py runs it)."""
    from gateway.wsgi import application

    return application


def call(app, path: str, method: str = "GET", host: str = "10.1.2.3:8000"):
    """One request to a WSGI app, with a Host no ALLOWED_HOSTS lists (as a probe by IP)."""
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "SERVER_NAME": "x",
               "SERVER_PORT": "8000", "HTTP_HOST": host, "wsgi.url_scheme": "http",
               "wsgi.input": None, "QUERY_STRING": ""}  # fmt: skip
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(app()(environ, start_response))
    return answer["status"], answer["headers"], json.loads(body) if body else None


@contextmanager
def database_unreachable():
    """Make the real connection fail, then put it back.

    PostgreSQL: reconnect to a port where no server listens. SQLite's in-memory test database
    vanishes when its connection closes, so there the driver gets a connection that is closed.
    """
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        live, dead = connection.connection, sqlite3.connect(":memory:")
        dead.close()
        connection.connection = dead
        try:
            yield
        finally:
            connection.connection = live
        return
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)
