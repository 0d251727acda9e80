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


def connection(environ: dict[str, str]) -> http.client.HTTPConnection:
    path = environ.get("AUTH_SOCKET", "")
    if path:
        return UnixHTTPConnection(path, TIMEOUT_SECONDS)
    port = int(environ.get("AUTH_PORT") or 8002)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)


def main(argv: list[str]) -> int:
    target = argv[0] if argv else "/readyz"
    try:
        client = connection(dict(os.environ))
        client.request("GET", target)
        status = client.getresponse().status
        client.close()
    except (OSError, ValueError, http.client.HTTPException) as error:
        print(f"auth server probe: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"auth server probe: {target} answered {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
