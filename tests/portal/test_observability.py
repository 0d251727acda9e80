"""Request ids in logs, JSON logs, /metrics behind its token, Sentry reports, task failures."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prometheus_client import REGISTRY

from portal.celery import app as celery_app
from tests.helpers import ROOT, free_port

# Serves a request through Django's test client in a fresh process, so its LOGGING is the
# one the environment asks for; prints nothing itself (Django logs the 404 to stderr).
REQUEST_A_MISSING_PAGE = """
import django; django.setup()
from django.test import Client
answer = Client().get("/no-such-page", headers={"X-Request-Id": %r})
print(answer.headers.get("X-Request-Id", "<none>"))
"""


def serve_in_subprocess(tmp_path, request_id: str, **env: str) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", REQUEST_A_MISSING_PAGE % request_id],
        cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings",
             "TOLLGATE_VAR_DIR": str(tmp_path), "ALLOWED_HOSTS": "testserver", **env},
    )  # fmt: skip
    return result.stdout.strip(), result.stderr


def test_json_logs_are_one_object_a_line_with_nginx_request_id(tmp_path):
    echoed, stderr = serve_in_subprocess(tmp_path, "3f9a0c1d2e", LOG_FORMAT="json")
    assert echoed == "3f9a0c1d2e"
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    (not_found,) = [r for r in records if r["message"] == "Not Found: /no-such-page"]
    assert not_found["request_id"] == "3f9a0c1d2e"
    assert (not_found["level"], not_found["logger"]) == ("WARNING", "django.request")
    assert "time" in not_found


def test_plain_logs_carry_the_request_id_too(tmp_path):
    _, stderr = serve_in_subprocess(tmp_path, "abc-123")
    assert "WARNING django.request [abc-123] Not Found: /no-such-page" in stderr


@pytest.mark.parametrize("hostile", ['x"\\n{"level":"fake"}', "a" * 200, "id with spaces"])
def test_a_request_id_that_is_not_a_token_is_neither_logged_nor_echoed(tmp_path, hostile):
    echoed, stderr = serve_in_subprocess(tmp_path, hostile, LOG_FORMAT="json")
    assert echoed == "<none>"
    (line,) = [line for line in stderr.splitlines() if "no-such-page" in line]
    assert json.loads(line)["request_id"] == "-"


def test_a_bad_log_format_names_the_variable(tmp_path):
    env = {**os.environ, "LOG_FORMAT": "xml", "TOLLGATE_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", "import portal.settings"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert result.returncode != 0 and "LOG_FORMAT must be one of plain, json" in result.stderr


def test_metrics_are_hidden_without_the_token(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404
    settings.METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Basic scrape-me"}).status_code == 404


def test_metrics_are_served_with_the_token(client, settings):
    settings.METRICS_TOKEN = "scrape-me"
    answer = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain; version=")
    text = answer.content.decode()
    for name in ("tollgate_decision_seconds", "tollgate_usage_flush_backlog_batches",
                 "tollgate_collector_lag_bytes", "tollgate_webhook_failures",
                 "tollgate_task_failures"):  # fmt: skip
        assert f"# TYPE {name}" in text


@celery_app.task(name="tests.always_fails")
def always_fails() -> None:
    raise RuntimeError("on purpose")


def test_a_failing_task_is_counted():
    def failures() -> float:
        labels = {"task": "tests.always_fails"}
        return REGISTRY.get_sample_value("tollgate_task_failures_total", labels) or 0.0

    # Eager in unit tests; Celery signals a failure only when it keeps the exception, as a worker
    # does (a real worker's failures are counted in tests/e2e/test_production.py).
    before = failures()
    celery_app.conf.task_eager_propagates = False
    try:
        assert always_fails.delay().state == "FAILURE"
    finally:
        celery_app.conf.task_eager_propagates = True
    assert failures() == before + 1


def test_a_bad_webhook_signature_is_counted(client):
    def failures() -> float:
        return (
            REGISTRY.get_sample_value("tollgate_webhook_failures_total", {"stage": "signature"})
            or 0.0
        )

    before = failures()
    answer = client.post("/billing/webhook", data=b"{}", content_type="application/json",
                         headers={"Stripe-Signature": "t=1,v1=00"})  # fmt: skip
    assert answer.status_code == 400
    assert failures() == before + 1


class Envelopes(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        Envelopes.received.append(self.path.encode() + b" " + body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_errors_are_reported_to_sentry_when_a_dsn_is_set(tmp_path):
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    code = (
        "import django, logging, sentry_sdk; django.setup()\n"
        "try:\n    1 / 0\nexcept ZeroDivisionError:\n"
        "    logging.getLogger('tollgate.test').exception('boom from the test')\n"
        "sentry_sdk.flush(5)\n"
    )
    try:
        subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings",
                 "TOLLGATE_VAR_DIR": str(tmp_path),
                 "SENTRY_DSN": f"http://publickey@127.0.0.1:{port}/42"},
        )  # fmt: skip
    finally:
        server.shutdown()
    (envelope,) = Envelopes.received
    assert envelope.startswith(b"/api/42/envelope/")
    assert b"ZeroDivisionError" in envelope and b"boom from the test" in envelope
