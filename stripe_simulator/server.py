"""Run the simulator as a real HTTP server (a threaded wsgiref server)."""

from __future__ import annotations

import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from stripe_simulator.app import SimulatorApp


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    # wsgiref writes the headers and the body separately: with Nagle on, the body waits for
    # the client's delayed ACK (~40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        """Requests are not logged: the portal logs what it asked."""


def build_server(
    host: str, port: int, webhook_url: str, webhook_secret: str, state_path: Path | None = None
) -> tuple[WSGIServer, SimulatorApp]:
    app = SimulatorApp(f"http://{host}:{port}", webhook_url, webhook_secret, state_path)
    server = make_server(
        host, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )
    return server, app


def serve_in_thread(
    host: str, port: int, webhook_url: str, webhook_secret: str
) -> tuple[WSGIServer, SimulatorApp]:
    server, app = build_server(host, port, webhook_url, webhook_secret)
    threading.Thread(target=server.serve_forever, name="stripe-simulator", daemon=True).start()
    return server, app
