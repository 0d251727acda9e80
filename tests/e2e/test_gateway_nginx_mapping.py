"""nginx's half of the contract: each deny reason becomes the right status and JSON body."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
import requests
from django.core.management import call_command

from tests.gateway.support import make_product
from tests.helpers import free_port, listening, raw_request, wait_for

pytestmark = pytest.mark.e2e


class ScriptedAuth(BaseHTTPRequestHandler):
    """Stands in for /gateway/auth: refuses with the reason named by the call's last segment
    (admits when it is ``ok``)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        reason = self.headers["X-Original-URI"].rsplit("/", 1)[1]
        if reason == "ok":
            self.send_response(204)
            self.end_headers()
            return
        status = 401 if reason.endswith("_key") else 403
        self.send_response(status)
        self.send_header("X-Deny-Reason", reason)
        self.send_header("Retry-After", "7")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args):
        pass


@pytest.fixture
def nginx_with_scripted_auth(db, tmp_path):
    make_product()
    auth = ThreadingHTTPServer(("127.0.0.1", free_port()), ScriptedAuth)
    threading.Thread(target=auth.serve_forever, daemon=True).start()
    port = free_port()
    run_dir = tmp_path / "nginx"
    call_command("gateway_config", run_dir=str(run_dir), listen=f"127.0.0.1:{port}",
                 auth=f"127.0.0.1:{auth.server_port}", portal=f"127.0.0.1:{auth.server_port}",
                 workers="1", stdout=StringIO())  # fmt: skip
    nginx = subprocess.Popen(["/usr/sbin/nginx", "-p", str(run_dir), "-c",
                              str(run_dir / "nginx.conf"), "-g", "daemon off;"])  # fmt: skip
    wait_for(lambda: listening(port), what="nginx")
    yield f"http://127.0.0.1:{port}"
    nginx.terminate()
    nginx.wait(timeout=10)
    auth.shutdown()


@pytest.mark.parametrize(
    ("reason", "status", "retry_after"),
    [
        ("missing_key", 401, None),
        ("invalid_key", 401, None),
        ("inactive_key", 401, None),
        ("rate_limited", 429, "7"),
        ("quota_exceeded", 429, "7"),
        ("payment_required", 402, "7"),
        ("credits_exhausted", 402, "7"),
        ("pass_expired", 402, "7"),
        ("forbidden", 403, "7"),
        ("ip_not_allowed", 403, "7"),
        ("unavailable", 503, "7"),
        ("invalid_path", 400, "7"),
    ],
)
def test_it_maps_each_deny_reason_to_its_status_and_json_body(
    nginx_with_scripted_auth, reason, status, retry_after
):
    answer = requests.get(f"{nginx_with_scripted_auth}/demo/{reason}")
    assert answer.status_code == status
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["code"] == reason
    assert answer.json()["message"]
    assert answer.headers.get("Retry-After") == retry_after


@pytest.mark.parametrize(
    "target",
    [b"/demo/../../etc/passwd", b"/demo/%2e%2e/%2e%2e/x", b"/../demo/x", b"/demo/\x01x"],
)
def test_targets_nginx_refuses_itself_get_the_json_invalid_path(nginx_with_scripted_auth, target):
    status, body = raw_request(
        nginx_with_scripted_auth,
        b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert (status, body["code"]) == (400, "invalid_path") and body["message"]


HEAD = b"GET /demo/forbidden HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        (HEAD + b"Authorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n", 400,
         "malformed_request"),
        (b"GET /demo/forbidden HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400,
         "malformed_request"),
        (b"GET /demo/forbidden HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "malformed_request"),
        (b"GET /demo/forbidden HTTP/1.1\r\n\r\n", 400, "malformed_request"),  # no Host
        (HEAD + b"Fo\x01o: bar\r\n\r\n", 400, "malformed_request"),
        (HEAD.replace(b"GET", b"POST") + b"Content-Length: 1\r\nContent-Length: 1\r\n\r\na",
         400, "malformed_request"),
        (HEAD.replace(b"GET", b"POST") + b"Content-Length: x\r\n\r\n", 400,
         "malformed_request"),
        (HEAD.replace(b"GET", b"POST")
         + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
         "malformed_request"),
        (HEAD.replace(b"GET", b"POST") + b"Transfer-Encoding: gzip\r\n\r\n", 501,
         "unsupported_transfer_encoding"),
        (HEAD + b"X-Big: " + b"a" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
        (HEAD + b"".join(b"X-H%d: %s\r\n" % (n, b"b" * 4000) for n in range(9)) + b"\r\n", 431,
         "headers_too_large"),
        (b"GET /demo/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, "uri_too_long"),
        (HEAD.replace(b"GET", b"TRACE") + b"\r\n", 405, "method_not_allowed"),
        (HEAD.replace(b"HTTP/1.1", b"HTTP/2.0") + b"\r\n", 505, "http_version_not_supported"),
        (b"G@T /demo/forbidden HTTP/1.1\r\nHost: x\r\n\r\n", 400, "invalid_path"),
    ],
    ids=["twice-authorization", "twice-host", "bad-host", "no-host", "bad-header-name",
         "twice-content-length", "bad-content-length", "length-and-chunked", "gzip-encoding",
         "long-header", "long-head", "long-target", "trace", "http-2.0", "bad-method"],
)  # fmt: skip
def test_requests_nginx_refuses_itself_get_json_naming_what_is_wrong(
    nginx_with_scripted_auth, request_bytes, status, code
):
    """Not the target's fault, not an HTML page: each refusal nginx makes before any location
    (or while reading the body) answers with its own stable code."""
    answer_status, body = raw_request(nginx_with_scripted_auth, request_bytes)
    assert (answer_status, body["code"]) == (status, code) and body["message"]


def test_a_broken_chunked_body_in_a_product_location_gets_json(nginx_with_scripted_auth):
    """The body is read after the decision, in the product's location, whose own error_page
    lines would otherwise hide the server's."""
    status, body = raw_request(
        nginx_with_scripted_auth,
        b"POST /demo/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Transfer-Encoding: chunked\r\n\r\nzz\r\n\r\n",
    )
    assert (status, body["code"]) == (400, "malformed_request")


def test_a_body_over_the_limit_gets_json(nginx_with_scripted_auth):
    status, body = raw_request(
        nginx_with_scripted_auth,
        b"POST /demo/forbidden HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Length: 20000000\r\n\r\n",
    )
    assert (status, body["code"]) == (413, "body_too_large")
