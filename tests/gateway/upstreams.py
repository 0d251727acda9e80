"""Upstream APIs that say what they received, for the hostile-path tests.

- ``recording_demo``: the exact-matching demo API (gateway.demo_api) unchanged, plus a header
  ``X-Upstream-Path`` with the path it routed on (its PATH_INFO, percent-encoded for transport).
- ``NormalisingUpstream``: a server as lenient as the most lenient common upstream, combined:
  it decodes percent-encoding (repeatedly, %uXXXX too), overlong UTF-8, Unicode compatibility
  forms, backslashes, path parameters, NUL, blanks, doubled slashes and dot segments, then
  answers 200 with what it received raw and what it made of it.
"""

from __future__ import annotations

import json
import re
import socketserver
import threading
import unicodedata
from typing import Any
from urllib.parse import quote

from gateway.demo_api import application as demo_application


def recording_demo(environ: dict[str, Any], start_response):
    path = environ.get("PATH_INFO", "").encode("latin-1")

    def recording_start_response(status, headers, exc_info=None):
        return start_response(status, [*headers, ("X-Upstream-Path", quote(path, safe="/"))])

    return demo_application(environ, recording_start_response)


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
