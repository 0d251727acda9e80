"""A local HTTPS receiver for webhook tests, with a certificate from the tests' throwaway CA."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.e2e.tls import ThrowawayCA

HOSTNAMES = ("localhost", "hooks.example.com")


def make_ca_and_cert(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signs for localhost, 127.0.0.1 and hooks.example.com.
    Returns (ca.pem, cert.pem, key.pem)."""
    ca = ThrowawayCA(directory)
    cert, key = ca.issue("receiver", list(HOSTNAMES), ips=("127.0.0.1",))
    return ca.path, cert, key


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    sni: str | None
    # The receiver's clock on arrival: what a receiver checks the signature's tolerance against.
    at: float = field(default_factory=lambda: time.time())


@dataclass
class Receiver:
    """Answers each POST with `respond(received) -> status` (200 by default)."""

    cert: Path
    key: Path
    respond: Callable[[Received], int] = lambda received: 200
    requests: list[Received] = field(default_factory=list)

    def start(self) -> None:
        receiver = self
        sni_seen: dict[int, str | None] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                received = Received(
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    sni_seen.get(id(self.connection)),
                )
                receiver.requests.append(received)
                status = receiver.respond(received)
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)

        def remember_sni(sock: ssl.SSLObject, name: str | None, _ctx: object) -> None:
            sni_seen[id(sock)] = name

        context.sni_callback = remember_sni
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, host: str = "localhost", path: str = "/hooks") -> str:
        return f"https://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
