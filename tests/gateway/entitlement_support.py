"""Signing keys of the test's own and a JWKS served over HTTP, for the entitlement tests."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.signing import keys
from tests.helpers import free_port


class JwksServer:
    """The portal's JWKS as an upstream fetches it, counting the fetches."""

    def __init__(self) -> None:
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.fetches += 1
                body = json.dumps(keys.ring().jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/.well-known/jwks.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def sign(claims: dict, key=None, kid: str | None = None, algorithm: str = "EdDSA") -> str:
    """A token as an attacker or a stale gateway would make it."""
    ring = keys.ring()
    headers = {"kid": ring.kid if kid is None else kid}
    return jwt.encode(claims, key or ring.private, algorithm=algorithm, headers=headers)


def claims_now(**changes) -> dict:
    now = int(time.time())
    base = {
        "iss": "http://issuer.test", "aud": "demo", "sub": "42", "key": "key_1",
        "plan": "pro", "env": "live", "features": {"insights": True, "report_rows": 100},
        "iat": now, "exp": now + 300,
    }  # fmt: skip
    return base | changes


def alg_none(claims: dict) -> str:
    import base64

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'kid': keys.ring().kid})}.{part(claims)}."


def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
