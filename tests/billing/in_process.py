"""The bundled simulator in the test process: the `stripe` SDK reaches it without a socket.

`InProcessTransport` is an HTTP client of the kind the SDK accepts (`stripe.HTTPClient`, given to
`StripeClient(http_client=...)` through `billing.gateway.HTTP_CLIENT`): a request for the
simulator's base URL becomes a call of its WSGI app with the very method, path, query, headers
and form body the SDK would have sent over the wire, and the SDK parses the bytes the app answers.
Everything else the seam does (parameters, idempotency keys, retries, error translation) runs
as it does against Stripe. Any other URL goes out over the network, so "Stripe unreachable"
is still a refused connection.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit
from wsgiref.util import setup_testing_defaults

import stripe
from requests.structures import CaseInsensitiveDict

Answer = tuple[bytes, int, CaseInsensitiveDict[str]]


def wsgi_call(
    app: Any, method: str, url: str, headers: Mapping[str, str], body: bytes = b""
) -> Answer:
    """One HTTP exchange with a WSGI app, as a server would hand it over: (body, status,
    headers)."""
    parts = urlsplit(url)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": unquote(parts.path),
        "QUERY_STRING": parts.query,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": parts.hostname or "localhost",
        "SERVER_PORT": str(parts.port or 80),
    }
    for name, value in headers.items():
        key = name.upper().replace("-", "_")
        environ[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else f"HTTP_{key}"] = value
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]], *_: Any) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = CaseInsensitiveDict(dict(response_headers))

    chunks: Iterable[bytes] = app(environ, start_response)
    content = b"".join(chunks)
    return content, answer["status"], answer["headers"]


class InProcessTransport(stripe.HTTPClient):
    """The SDK's transport to a simulator app in this process (see the module's docstring)."""

    name = "tollgate-simulator-in-process"

    def __init__(self, app: Any, base_url: str) -> None:
        super().__init__()
        self.app = app
        self.base_url = base_url.rstrip("/")
        self.network = stripe.RequestsClient()

    def serves(self, url: str) -> bool:
        return url.startswith(f"{self.base_url}/")

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        if not self.serves(url):
            content, status, answered = self.network.request(method, url, headers, post_data)
            return content, status, CaseInsensitiveDict(dict(answered))
        body = post_data.encode() if isinstance(post_data, str) else (post_data or b"")
        return wsgi_call(self.app, method.upper(), url, headers or {}, body)

    def request_stream(self, *args: Any, **kwargs: Any) -> tuple[Any, int, Mapping[str, str]]:
        content, status, answered = self.request(*args, **kwargs)
        return io.BytesIO(content), status, answered

    def close(self) -> None:
        self.network.close()
