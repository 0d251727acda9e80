"""nginx's half of the contract: each deny reason becomes the right status and JSON body."""

from __future__ import annotations

import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
import requests
from django.core.management import call_command

from tests.gateway.stack import listening
from tests.gateway.support import make_product
from tests.helpers import free_port, wait_for

pytestmark = pytest.mark.e2e


class ScriptedAuth(BaseHTTPRequestHandler):
    """Stands in for /gateway/auth: refuses with the reason named by the call's last segment."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        reason = self.headers["X-Original-URI"].rsplit("/", 1)[1]
        status = 401 if reason.endswith("_key") else 403
        self.send_response(status)
        self.send_header("X-Deny-Reason", reason)
        self.send_header("Retry-After", "7")
        self.send_header("Content-Length", "0")
        self.end_headers()

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
