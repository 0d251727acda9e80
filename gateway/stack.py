from __future__ import annotations

import os
import sys
from pathlib import Path

from django.conf import settings

from portal.stack import HOST, Service, python_bin


def auth_service() -> Service:
    """The auth server (gateway/server.py) on AUTH_SERVER_ADDRESS: nginx's auth_request upstream,
    on a TCP port or a unix socket (which the server itself refuses to take from a live one)."""
    address = settings.AUTH_SERVER_ADDRESS
    processes = ["--workers", os.environ.get("AUTH_WORKERS", "1"),
                 "--threads", os.environ.get("AUTH_THREADS", "4")]  # fmt: skip
    if address.startswith("unix:"):
        path = address.removeprefix("unix:")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return Service(
            name="auth",
            argv=[sys.executable, "-m", "gateway.server", "--unix", path, *processes],
            url=f"{address}  (/gateway/auth for nginx, /livez, /readyz)",
        )
    host, _, port = address.rpartition(":")
    return Service(
        name="auth",
        argv=[sys.executable, "-m", "gateway.server", "--host", host.strip("[]"),
              "--port", port, *processes],
        url=f"http://{address}  (/gateway/auth for nginx, /livez, /readyz)",
        address=(host, int(port)),
    )  # fmt: skip


def mock_service() -> Service:
    """The mock server (sandbox/server.py) on MOCK_SERVER_ADDRESS: what test keys of `mock`
    products reach through nginx (the demo API's, with the demo catalog)."""
    host, _, port = settings.MOCK_SERVER_ADDRESS.rpartition(":")
    return Service(
        name="mock",
        argv=[python_bin("granian"), "--interface", "asgi", "--host", host.strip("[]"),
              "--port", port, "--workers", "1", "--no-ws", "sandbox.server:application"],
        url=f"http://{settings.MOCK_SERVER_ADDRESS}  (test keys of mock products, via nginx)",
        address=(host, int(port)),
    )  # fmt: skip


def gateway_services() -> list[Service]:
    # nginx and the demo API beside the portal (settings: GATEWAY_PORT, DEMO_API_PORT).
    host, portal_port = HOST, settings.PORTAL_PORT
    gateway_port, demo_port = settings.GATEWAY_PORT, settings.DEMO_API_PORT
    demo = Service(
        name="demo-api",
        argv=[python_bin("granian"), "--interface", "wsgi", "--host", host,
              "--port", str(demo_port), "--workers", "1", "--no-ws",
              "gateway.demo_api:application"],
        url=f"http://{host}:{demo_port}/demo/",
        address=(host, demo_port),
        # It verifies entitlement tokens with the portal's JWKS, issued by SITE_URL.
        env={"SITE_URL": settings.SITE_URL,
             "DEMO_API_JWKS_URL": f"http://{host}:{portal_port}/.well-known/jwks.json"},
    )  # fmt: skip
    nginx = Service(
        name="nginx",
        # Renders var/nginx/nginx.conf from the catalog (applied at start-up), then runs nginx.
        argv=[sys.executable, str(settings.BASE_DIR / "manage.py"), "gateway_nginx",
              "--run-dir", str(settings.VAR_DIR / "nginx"),
              "--listen", f"{host}:{gateway_port}", "--auth", settings.AUTH_SERVER_ADDRESS,
              "--portal", f"{host}:{portal_port}",
              "--upstream", f"demo=http://{host}:{demo_port}",
              "--mock", settings.MOCK_SERVER_ADDRESS],
        url=f"http://{host}:{gateway_port}  (API: /demo/, portal: /)",
        address=(host, gateway_port),
    )  # fmt: skip
    return [auth_service(), demo, mock_service(), nginx]
