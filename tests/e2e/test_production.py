"""Production mode, end to end: DEBUG=false on PostgreSQL and a real Redis, the portal and the
auth server under their production command lines, nginx with TLS in front (certificates from a
CA the test makes), and a product upstream served over HTTPS and verified against that CA.

The refusals of unsafe settings are tested in tests/portal/test_production_settings.py (each
through `manage.py check --deploy` and the WSGI module, in subprocesses).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.db import connection

from portal.keyfiles import create_if_missing
from tests.e2e.tls import ThrowawayCA
from tests.gateway.stack import GRANIAN, database_url
from tests.gateway.support import make_key, make_plan, make_product
from tests.helpers import (
    ROOT,
    free_port,
    group_running,
    listening,
    raw_request,
    wait_for,
    wait_for_sole_listener,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

METRICS_TOKEN = "scrape-token-for-the-production-test"  # 32 characters at least


def server_argv(app: str, port: int, workers: int, threads: int, *tls: str) -> list[str]:
    """The production command line of docs/operations.md for the portal and the upstream
    (granian, several workers); the auth server's is `python -m gateway.server`."""
    return [GRANIAN, "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--blocking-threads", str(threads), "--no-ws",
            "--log-level", "warning", *tls, app]  # fmt: skip


class ProductionStack:
    def __init__(self, workdir: Path, settings, trusted_proxies: str = "") -> None:
        self.workdir = workdir
        self.settings = settings
        self.ca = ThrowawayCA(workdir)
        self.ports = {name: free_port() for name in ("portal", "auth", "upstream", "https", "http")}
        self.metrics_dir = workdir / "metrics"
        self.metrics_dir.mkdir()
        signing_key = workdir / "entitlement_signing_key.pem"
        create_if_missing(signing_key)
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "DJANGO_"))},
            "DEBUG": "false",
            "DATABASE_URL": database_url(),
            "REDIS_URL": settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "APIKEY_PEPPER": settings.APIKEY_PEPPER,
            "GATEWAY_SECRET": settings.GATEWAY_SECRET,
            "STRIPE_SECRET_KEY": "sk_test_production_e2e",
            "STRIPE_WEBHOOK_SECRET": "whsec_production_e2e",
            "ALLOWED_HOSTS": "localhost",
            "SITE_URL": f"https://localhost:{self.ports['https']}",
            "TRUSTED_PROXY_COUNT": "1",
            "TOLLGATE_VAR_DIR": str(workdir / "var"),
            "LOG_FORMAT": "json",
            "METRICS_TOKEN": METRICS_TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            "ENTITLEMENT_SIGNING_KEY_FILE": str(signing_key),
            # Production needs outgoing mail; this test sends none it reads.
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        }
        self.trusted_proxies = trusted_proxies
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def url(self, path: str) -> str:
        return f"https://localhost:{self.ports['https']}{path}"

    def http_url(self, path: str) -> str:
        return f"http://localhost:{self.ports['http']}{path}"

    def upstream_env(self) -> dict[str, str]:
        """The demo API verifies tokens with the portal's JWKS (plain HTTP on the host)."""
        return {
            **os.environ,
            "SITE_URL": self.env["SITE_URL"],
            "DEMO_API_JWKS_URL": f"http://localhost:{self.ports['portal']}/.well-known/jwks.json",
        }

    def log(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def start_server(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.log(name), "wb")  # noqa: SIM115  (the process owns it)
        # A process group of its own: stopping a server stops its workers too, at once.
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self) -> ProductionStack:
        """Every server up, or none left running (a failed start must not leak processes)."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> ProductionStack:
        # As every release does before its servers start (manifest static files in production).
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
                       cwd=ROOT, env=self.env, check=True)  # fmt: skip
        upstream_cert, upstream_key = self.ca.issue("upstream", ["localhost"])
        gateway_cert, gateway_key = self.ca.issue("gateway", ["localhost"], ("127.0.0.1",))
        p = self.ports
        self.start_server("upstream", server_argv(
            "gateway.demo_api:application", p["upstream"], 1, 2,
            "--ssl-certificate", str(upstream_cert), "--ssl-keyfile", str(upstream_key),
            "--ssl-protocol-min", "tls1.2"), self.upstream_env())  # fmt: skip
        self.start_server("portal", server_argv("portal.wsgi:application", p["portal"], 2, 4),
                          self.env)  # fmt: skip
        self.start_server("auth", [sys.executable, "-m", "gateway.server", "--host", "127.0.0.1",
                                   "--port", str(p["auth"]), "--workers", "2", "--threads", "4"],
                          self.env)  # fmt: skip
        self.settings.GATEWAY_TLS_CERTIFICATE = str(gateway_cert)
        self.settings.GATEWAY_TLS_CERTIFICATE_KEY = str(gateway_key)
        self.settings.GATEWAY_UPSTREAM_CA_BUNDLE = str(self.ca.path)
        self.settings.GATEWAY_TRUSTED_PROXIES = [self.trusted_proxies] * bool(self.trusted_proxies)
        self.settings.SITE_URL = self.env["SITE_URL"]
        run_dir = self.workdir / "nginx"
        call_command(
            "gateway_config", run_dir=str(run_dir), listen=f"127.0.0.1:{p['https']}",
            http_listen=f"127.0.0.1:{p['http']}", workers="1",
            auth=f"127.0.0.1:{p['auth']}", portal=f"127.0.0.1:{p['portal']}",
            upstream=[f"demo=https://localhost:{p['upstream']}"],
            stdout=open(os.devnull, "w"),  # noqa: SIM115
        )  # fmt: skip
        self.processes["nginx"] = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", str(run_dir), "-c", str(run_dir / "nginx.conf"),
             "-g", "daemon off;"],
            stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        for name, port in p.items():
            server = self.processes.get(name) or self.processes["nginx"]  # nginx: http and https
            wait_for_sole_listener(port, server, what=name, timeout=60)
        return self

    def stop_process(self, name: str) -> None:
        """Stop a server and every worker it forked (a graceful granian would finish serving
        nginx's kept-alive connections first, so the "down" tests would not see it down)."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        wait_for(lambda: not group_running(process.pid), timeout=15, what=f"{name}'s workers")

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            self.stop_process(name)


def needs_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("production mode runs on PostgreSQL: set DATABASE_URL=postgres://… as CI does")


@pytest.fixture
def production(tmp_path, settings, redis_db):
    needs_postgresql()
    make_plan("free", [make_product()], is_default=True)
    stack = ProductionStack(tmp_path, settings).start()
    yield stack
    stack.stop()


def test_an_api_call_over_https_reaches_a_verified_https_upstream(production, team):
    raw, key = make_key(team)
    answer = requests.post(production.url("/demo/echo"), json={"n": 1}, verify=production.ca.path,
                           headers={"Authorization": f"Bearer {raw}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["headers"]["X-Key-Id"] == key.public_id
    assert answer.json()["body"] == {"n": 1}
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    # The refusals carry HSTS too, in nginx's JSON.
    refused = requests.get(production.url("/demo/hello"), verify=production.ca.path)
    assert (refused.status_code, refused.json()["code"]) == (401, "missing_key")
    assert "Strict-Transport-Security" in refused.headers


def test_probes_answer_plain_http_and_everything_else_moves_to_https(production):
    for probe in ("/livez", "/readyz"):
        direct = requests.get(f"http://127.0.0.1:{production.ports['portal']}{probe}")
        via_nginx = requests.get(production.http_url(probe), allow_redirects=False)
        auth = requests.get(f"http://127.0.0.1:{production.ports['auth']}{probe}")
        assert (direct.status_code, via_nginx.status_code, auth.status_code) == (200, 200, 200)
    healthz = requests.get(production.http_url("/healthz"), allow_redirects=False)
    assert healthz.status_code in (200, 503)  # no worker runs here; never a redirect
    moved = requests.get(production.http_url("/pricing/?x=1"), allow_redirects=False,
                         headers={"X-Forwarded-Proto": "https"})  # fmt: skip
    assert moved.status_code == 301
    assert moved.headers["Location"] == production.url("/pricing/?x=1")


def test_plain_http_sent_to_the_https_port_gets_json_not_nginx_html(production):
    answer = requests.get(f"http://localhost:{production.ports['https']}/demo/hello")
    assert answer.status_code == 400
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json()["code"] == "https_required"


def test_the_plain_http_port_refuses_as_json_too(production):
    """The redirecting server is a server of its own: it inherits none of the HTTPS server's
    error pages, so it carries the same ones."""
    for request, status, code in [
        (b"GET /pricing/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "malformed_request"),
        (b"GET /../x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid_path"),
        (b"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, "method_not_allowed"),
    ]:
        answer_status, body = raw_request(production.http_url(""), request)
        assert (answer_status, body["code"]) == (status, code) and body["message"]


def test_the_portal_is_served_over_https_without_a_redirect_loop(production):
    login = production.url("/accounts/login/")
    # A client's own X-Forwarded-Proto is not believed: nginx says what the connection was.
    page = requests.get(login, verify=production.ca.path, allow_redirects=False,
                        headers={"X-Forwarded-Proto": "http"})  # fmt: skip
    assert page.status_code == 200
    assert page.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "__Host-csrftoken" in page.headers["Set-Cookie"]


def test_logs_are_json_with_the_request_id_nginx_made(production):
    answer = requests.get(production.url("/no-such-page"), verify=production.ca.path)
    assert answer.status_code == 404
    request_id = answer.headers["X-Request-Id"]
    assert len(request_id) == 32  # nginx's $request_id
    lines = production.log("portal").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r["request_id"] == request_id and "no-such-page" in r["message"] for r in records)
    access = production.workdir / "nginx" / "access.log"
    # nginx writes its log line once the answer is sent: wait for it rather than race it.
    wait_for(lambda: f'"request_id":"{request_id}"' in access.read_text(), what="the log line")


def test_metrics_sum_every_server_process_behind_the_token(production, team):
    raw, _ = make_key(team)
    for _ in range(3):
        requests.get(production.url("/demo/hello"), verify=production.ca.path,
                     headers={"X-API-Key": raw})  # fmt: skip
    metrics = production.url("/metrics")
    assert requests.get(metrics, verify=production.ca.path).status_code == 404

    def scraped() -> str:
        return requests.get(metrics, verify=production.ca.path,
                            headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text  # fmt: skip

    # Decided by the auth server's processes, served by the portal's: one directory of files.
    # (The auth server adds its decisions to the files every 100 ms.)
    wait_for(lambda: "tollgate_decision_seconds_count 3.0" in scraped(), what="the decisions")
    assert 'tollgate_decisions_total{outcome="admitted",reason="ok"} 3.0' in scraped()


def test_api_clients_get_json_503_when_no_auth_server_answers(production, team):
    raw, _ = make_key(team)
    production.stop_process("auth")
    answer = requests.get(production.url("/demo/hello"), verify=production.ca.path,
                          headers={"X-API-Key": raw})  # fmt: skip
    assert answer.status_code == 503
    assert answer.json()["code"] == "unavailable"
    assert answer.headers["Retry-After"] == "5"
    production.stop_process("portal")
    page = requests.get(production.url("/pricing/"), verify=production.ca.path)
    assert (page.status_code, page.json()["code"]) == (503, "unavailable")


def test_an_upstream_certificate_from_another_ca_is_refused(production, team):
    raw, _ = make_key(team)
    stranger = ThrowawayCA(production.workdir / "..", "Someone else's CA")
    cert, key = stranger.issue("impostor", ["localhost"])
    production.stop_process("upstream")
    production.start_server("upstream", server_argv(
        "gateway.demo_api:application", production.ports["upstream"], 1, 2,
        "--ssl-certificate", str(cert), "--ssl-keyfile", str(key),
        "--ssl-protocol-min", "tls1.2"), production.upstream_env())  # fmt: skip
    wait_for(lambda: listening(production.ports["upstream"]), timeout=30, what="the impostor")
    answer = requests.get(production.url("/demo/hello"), verify=production.ca.path,
                          headers={"X-API-Key": raw})  # fmt: skip
    assert answer.status_code == 502
    error_log = (production.workdir / "nginx" / "error.log").read_text()
    assert "upstream SSL certificate verify error" in error_log


def test_behind_a_tls_load_balancer_its_forwarded_headers_are_believed(
    tmp_path, settings, redis_db, team
):
    needs_postgresql()
    make_plan("free", [make_product()], is_default=True)
    stack = ProductionStack(tmp_path, settings, trusted_proxies="127.0.0.1/32").start()
    try:
        login = stack.url("/accounts/login/")
        behind_lb = requests.get(login, verify=stack.ca.path, allow_redirects=False,
                                 headers={"X-Forwarded-Proto": "https"})  # fmt: skip
        assert behind_lb.status_code == 200  # no redirect, so no loop
        told_http = requests.get(login, verify=stack.ca.path, allow_redirects=False,
                                 headers={"X-Forwarded-Proto": "http"})  # fmt: skip
        assert told_http.status_code == 301  # the balancer says the client came in plain HTTP

        # A key's IP allowlist reads the client the balancer names: the last address in
        # X-Forwarded-For that it did not add itself (what a client wrote before it is not).
        raw, _ = make_key(team, allowed_ips=["192.0.2.0/24"])

        def call(forwarded_for: str) -> requests.Response:
            return requests.get(stack.url("/demo/hello"), verify=stack.ca.path, headers={
                "Authorization": f"Bearer {raw}", "X-Forwarded-For": forwarded_for})  # fmt: skip

        assert call("192.0.2.7").status_code == 200
        assert call("198.51.100.1, 192.0.2.8").status_code == 200
        refused = call("192.0.2.7, 198.51.100.1")
        assert (refused.status_code, refused.json()["code"]) == (403, "ip_not_allowed")
        access = stack.workdir / "nginx" / "access.log"
        wait_for(lambda: '"ip":"192.0.2.8"' in access.read_text(), what="the access log's line")
    finally:
        stack.stop()
