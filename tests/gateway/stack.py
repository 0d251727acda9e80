"""The real gateway for end-to-end tests: nginx in front of the auth server (gateway/server.py),
the portal (granian), as `make run` starts them, and the demo API.

Every process is the test's own, on free ports, pointed at the test's database and Redis.
"""

from __future__ import annotations

import asyncio
import collections
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.db import connection

from catalog.models import TEST_ROUTE_MOCK, ApiProduct
from gateway import probe
from tests.helpers import ROOT, free_port, wait_for, wait_for_sole_listener

GRANIAN = str(Path(sys.executable).with_name("granian"))


def database_url() -> str:
    """The URL of the test database pytest-django created (not the configured one)."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{db['USER']}@{host}:{db.get('PORT') or 5432}/{db['NAME']}"


def unix_socket_answers(path: str) -> bool:
    """The auth server on its unix socket is up (/livez, as the image's health check asks)."""
    try:
        return probe.status("/livez", unix_path=path) == 200
    except (OSError, http.client.HTTPException):
        return False


class GatewayStack:
    def __init__(
        self, workdir: Path, redis_url: str | None = None, auth_workers: int = 1, **env: str
    ) -> None:
        self.workdir = workdir
        self.auth_workers = auth_workers
        self.socket_dir: Path | None = None
        self.auth_socket = ""  # nginx reaches the auth server on TCP (on_unix_socket: not)
        self.demo_port, self.portal_port, self.port = free_port(), free_port(), free_port()
        self.auth_port, self.mock_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "REDIS_URL": redis_url or settings.REDIS_URL,
            "SECRET_KEY": settings.SECRET_KEY,
            "APIKEY_PEPPER": settings.APIKEY_PEPPER,
            "GATEWAY_SECRET": settings.GATEWAY_SECRET,
            "TOLLGATE_VAR_DIR": str(workdir / "var"),
            **env,
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.demo_app = "gateway.demo_api:application"
        self.auth_app: str | None = None  # None: the real auth server (python -m gateway.server)
        self.upstreams: list[str] = []  # SLUG=URL for other products (or instead of the demo)

    def on_unix_socket(self) -> GatewayStack:
        """The auth server on a unix socket, as beside nginx in production. Outside the test's
        own directory, which nginx's workers (nobody, under a root master) may not enter."""
        self.socket_dir = Path(tempfile.mkdtemp(prefix="tollgate-auth-"))
        self.socket_dir.chmod(0o755)
        self.auth_socket = str(self.socket_dir / "auth.sock")
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def granian(
        self, name: str, app: str, port: int, threads: int, interface: str = "wsgi"
    ) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115  (the process owns it)
        threading = ["--blocking-threads", str(threads)] if interface == "wsgi" else []
        self.processes[name] = subprocess.Popen(
            [GRANIAN, "--interface", interface, "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1", *threading, "--no-ws", "--log-level", "warning", app],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def auth_server(self) -> None:
        log = open(self.workdir / "auth.log", "wb")  # noqa: SIM115  (the process owns it)
        where = (["--unix", self.auth_socket] if self.auth_socket
                 else ["--host", "127.0.0.1", "--port", str(self.auth_port)])  # fmt: skip
        self.processes["auth"] = subprocess.Popen(
            [sys.executable, "-m", "gateway.server", *where,
             "--workers", str(self.auth_workers), "--threads", "4"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def start(self) -> GatewayStack:
        """Every server up, or none left running (a failed start must not leak processes)."""
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> GatewayStack:
        # The demo API verifies entitlement tokens with this stack's portal's JWKS.
        self.env.setdefault(
            "DEMO_API_JWKS_URL", f"http://127.0.0.1:{self.portal_port}/.well-known/jwks.json"
        )
        self.env.setdefault("SITE_URL", settings.SITE_URL)
        self.granian("demo", self.demo_app, self.demo_port, 4)
        if self.auth_app is None:
            self.auth_server()
        else:  # a stand-in decision (a WSGI callable's import path), for tests of nginx's side
            self.granian("auth", self.auth_app, self.auth_port, 4)
        self.granian("portal", "portal.wsgi:application", self.portal_port, 16)
        ports = {"demo": self.demo_port, "auth": self.auth_port, "portal": self.portal_port}
        # The mock server (sandbox/server.py), when a product sends test keys to it.
        if ApiProduct.objects.filter(test_route=TEST_ROUTE_MOCK).exists():
            self.granian("mock", "sandbox.server:application", self.mock_port, 0, "asgi")
            ports["mock"] = self.mock_port
        run_dir = self.workdir / "nginx"
        call_command(
            "gateway_config", run_dir=str(run_dir), listen=f"127.0.0.1:{self.port}",
            auth=f"unix:{self.auth_socket}" if self.auth_socket else f"127.0.0.1:{self.auth_port}",
            portal=f"127.0.0.1:{self.portal_port}",
            upstream=[f"demo=http://127.0.0.1:{self.demo_port}", *self.upstreams], workers="1",
            mock=f"127.0.0.1:{self.mock_port}",
            stdout=open(os.devnull, "w"),  # noqa: SIM115
        )  # fmt: skip
        self.processes["nginx"] = subprocess.Popen(
            ["/usr/sbin/nginx", "-p", str(run_dir), "-c", str(run_dir / "nginx.conf"),
             "-g", "daemon off;"],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        ports["nginx"] = self.port
        if self.auth_socket:
            del ports["auth"]
            wait_for(lambda: unix_socket_answers(self.auth_socket), timeout=30, what="auth")
        for name, port in ports.items():
            wait_for_sole_listener(port, self.processes[name], what=name)
        return self

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        if self.socket_dir is not None:
            shutil.rmtree(self.socket_dir, ignore_errors=True)

    def access_log(self) -> str:
        return (self.workdir / "nginx" / "access.log").read_text()


async def _one_connection(
    host: str, port: int, request: bytes, count: int, statuses: collections.Counter
):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(count):
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            statuses[int(status_line.split()[1])] += 1
    finally:
        writer.close()


def hammer(port: int, path: str, raw_key: str, total: int, connections: int, host="127.0.0.1"):
    """`total` keep-alive GETs spread over `connections` connections; returns status counts."""
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {raw_key}\r\n\r\n"
    ).encode()
    statuses: collections.Counter[int] = collections.Counter()

    async def run() -> None:
        share, extra = divmod(total, connections)
        await asyncio.gather(*(
            _one_connection(host, port, request, share + (i < extra), statuses)
            for i in range(connections)
        ))  # fmt: skip

    asyncio.run(run())
    return statuses
