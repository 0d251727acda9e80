"""The auth server's health check, where it listens: ``python -m gateway.probe [PATH]``.

Asks ``PATH`` (``/readyz`` unless given) of the auth server on ``AUTH_SOCKET`` when that is set,
else on 127.0.0.1:``AUTH_PORT`` (8002), the two ways the image's entrypoint starts it; exits 0
on a 200, else 1 with the reason on stderr. A container's health check runs it every few
seconds, so it imports neither Django nor the portal: a probe costs a fraction of a second,
not a second of settings and apps.
"""

from __future__ import annotations

import http.client
import os
import socket
import sys

TIMEOUT_SECONDS = 3.0


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (http.client speaks only TCP)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def status(target: str, unix_path: str = "", port: int = 8002) -> int:
    """The status the auth server answers ``GET target`` with, on its unix socket at
    ``unix_path`` if given, else on 127.0.0.1:``port``."""
    client = (
        UnixHTTPConnection(unix_path, TIMEOUT_SECONDS)
        if unix_path
        else http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    )
    try:
        client.request("GET", target)
        return client.getresponse().status
    finally:
        client.close()


def main(argv: list[str]) -> int:
    target = argv[0] if argv else "/readyz"
    try:
        port = int(os.environ.get("AUTH_PORT") or 8002)
        answered = status(target, os.environ.get("AUTH_SOCKET", ""), port)
    except (OSError, ValueError, http.client.HTTPException) as error:
        print(f"auth server probe: {error}", file=sys.stderr)
        return 1
    if answered != 200:
        print(f"auth server probe: {target} answered {answered}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
