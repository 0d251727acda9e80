"""Upstream APIs that say what they received, for the hostile-path tests.

- ``recording_demo``: the exact-matching demo API (gateway.demo_api) unchanged, plus a header
  ``X-Upstream-Path`` with the path it routed on (its PATH_INFO, percent-encoded for transport).
- ``NormalisingUpstream``: a server as lenient as the most lenient common upstream, combined:
  it decodes percent-encoding (repeatedly, %uXXXX too), overlong UTF-8, Unicode compatibility
  forms, backslashes, path parameters, NUL, blanks, doubled slashes and dot segments, then
  answers 200 with what it received raw and what it made of it.
"""

from __future__ import annotations

import http.server
import json
import re
import socketserver
import ssl
import threading
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gateway.demo_api import application as demo_application


def recording_demo(environ: dict[str, Any], start_response):
    path = environ.get("PATH_INFO", "").encode("latin-1")

    def recording_start_response(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Upstream-Path", quote(path, safe="/"))])

    return demo_application(environ, recording_start_response)


def environment_echoing_auth(environ: dict[str, Any], start_response):
    """An auth server that admits every call and answers X-Environment with the last segment of
    the path: `/demo/env/live` says live, `/demo/env/Test` says Test, `/demo/env/none` says
    nothing at all (what nginx must route fail-closed)."""
    said = environ.get("HTTP_X_ORIGINAL_URI", "").rsplit("/", 1)[-1]
    headers = [("X-Environment", said)] if said != "none" else []
    start_response("204 No Content", headers)
    return [b""]


_PERCENT = re.compile(rb"%([0-9A-Fa-f]{2})|%[uU]([0-9A-Fa-f]{4})")


def percent_decode(raw: bytes) -> bytes:
    def one(match: re.Match[bytes]) -> bytes:
        if match.group(1):
            return bytes([int(match.group(1), 16)])
        return chr(int(match.group(2), 16)).encode("utf-8", "surrogatepass")

    return _PERCENT.sub(one, raw)


def lenient_utf8(raw: bytes) -> str:
    """UTF-8 as a careless decoder reads it: overlong forms accepted, other bytes as Latin-1."""
    out, i = [], 0
    while i < len(raw):
        lead = raw[i]
        size = 2 if 0xC0 <= lead < 0xE0 else 3 if 0xE0 <= lead < 0xF0 else 1
        tail = raw[i + 1 : i + size]
        if size > 1 and len(tail) == size - 1 and all(0x80 <= b < 0xC0 for b in tail):
            point = lead & (0x1F if size == 2 else 0x0F)
            for b in tail:
                point = point << 6 | (b & 0x3F)
            out.append(chr(point) if point < 0xD800 or point > 0xDFFF else "\ufffd")
            i += size
        else:
            out.append(chr(lead))
            i += 1
    return "".join(out)


def remove_dot_segments(path: str) -> str:
    """RFC 3986, section 5.2.4."""
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith("./"):
            path = path[2:]
        elif path.startswith("/./") or path == "/.":
            path = "/" + path[3:]
        elif path.startswith("/../") or path == "/..":
            path = "/" + path[4:]
            if output:
                output.pop()
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            end = len(path) if end == -1 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def lenient_reading(target: bytes) -> str:
    """The path the most lenient upstream serves for a raw request target."""
    raw = target.split(b"?", 1)[0].split(b"#", 1)[0]
    for _ in range(3):  # double (and triple) decoding
        raw = percent_decode(raw)
    text = unicodedata.normalize("NFKC", lenient_utf8(raw))
    text = text.split("\x00", 1)[0].replace("\\", "/")
    segments = [segment.split(";", 1)[0].strip() for segment in text.split("/")]
    return remove_dot_segments(re.sub("/+", "/", "/".join(segments)))


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while request_line := self.rfile.readline(65536):
            target = request_line.split(b" ")[1] if request_line.count(b" ") >= 2 else b""
            length = 0
            while (header := self.rfile.readline(65536)).strip():
                name, _, value = header.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.rfile.read(length)
            body = json.dumps(
                {"raw": target.decode("latin-1"), "path": lenient_reading(target)}
            ).encode()
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"X-Upstream: normalising\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )


class NormalisingUpstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> NormalisingUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()


class _RecordingHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RecordingUpstream

    def do_any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append((self.command, self.path, dict(self.headers.items())))
        body = json.dumps({"upstream": self.server.name, "raw": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Upstream", self.server.name)
        # What an upstream could send to pass for another environment: nginx must drop it.
        self.send_header("Tollgate-Environment", "spoofed")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_any

    def log_message(self, format: str, *args: Any) -> None:
        pass


class RecordingUpstream(http.server.ThreadingHTTPServer):
    """An upstream that keeps every request it receives (method, raw target, headers) in
    `seen` and answers 200 naming itself; over HTTPS when given a certificate and its key."""

    daemon_threads = True

    def __init__(self, name: str, tls: tuple[Path, Path] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.name = name
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.socket = context.wrap_socket(self.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    def url(self, host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.server_address[1]}"

    def __enter__(self) -> RecordingUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
