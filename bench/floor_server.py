"""Variant (k)'s auth service: the floor of a check in a process of its own, in Python.

It answers every request nginx sends it with 204 and does nothing else: no parsing beyond
finding where each request head ends, no decision. nginx's auth subrequests have no body
(``proxy_pass_request_body off``) and never arrive pipelined, so the end of a head is the end
of a request. Its cost above (a) is what any check pays for living in another process (the two
wakeups, the loopback hops, an event loop's turn) before it decides anything; Tollgate's auth
server costs that plus its decision.

Usage: python bench/floor_server.py SOCKET_PATH
"""

from __future__ import annotations

import asyncio
import os
import sys

import uvloop

ANSWER = b"HTTP/1.1 204 No Content\r\n\r\n"
END_OF_HEAD = b"\r\n\r\n"


class Floor(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        data = self.pending + data
        heads = data.count(END_OF_HEAD)
        self.pending = data[data.rfind(END_OF_HEAD) + len(END_OF_HEAD) :] if heads else data
        if heads and self.transport is not None:
            self.transport.write(ANSWER * heads)


async def serve(path: str) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_unix_server(Floor, path, backlog=2048)
    os.chmod(path, 0o666)  # noqa: S103  (nginx's workers may run as another user)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(sys.argv[1]))
