"""Anonymous clients for test_anonymous_load.py, in a process of their own.

    python -m tests.e2e.anonymous_load --seconds 60 --per-client 5000 PORT/PATH:CLIENTS ...

Each client loops GET PATH on 127.0.0.1:PORT over one keep-alive connection (a new one when the
server closes it), with no key and no cookie. Prints "running" once every client has had an
answer (or after 10 s), and on SIGTERM, at the deadline or when every client has made its
requests, one JSON line: the answers per target and status.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
from typing import Any

READY_AFTER_SECONDS = 10.0


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """One response: its status, and whether the server will close the connection."""
    status = int((await reader.readuntil(b"\r\n")).split()[1])
    length, chunked, close = 0, False, False
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        chunked |= name == "transfer-encoding" and "chunked" in value
        close |= name == "connection" and value == "close"
    if not chunked:
        await reader.readexactly(length)
        return status, close
    while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
        await reader.readexactly(size + 2)
    await reader.readuntil(b"\r\n")
    return status, close


async def client(port: int, path: str, per_client: int, counts: collections.Counter[str],
                 answered: asyncio.Event) -> None:  # fmt: skip
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    done = 0
    while done < per_client:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            counts[f"{port}{path} connect-error"] += 1
            await asyncio.sleep(0.05)
            continue
        try:
            close = False
            while done < per_client and not close:
                writer.write(request)
                status, close = await read_answer(reader)
                counts[f"{port}{path} {status}"] += 1
                done += 1
                answered.set()
        except (OSError, ValueError, asyncio.IncompleteReadError):
            counts[f"{port}{path} broken"] += 1
        finally:
            writer.close()


async def run(targets: list[tuple[int, str, int]], seconds: float, per_client: int) -> None:
    counts: collections.Counter[str] = collections.Counter()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    firsts = [asyncio.Event() for port, path, n in targets for _ in range(n)]
    clients = iter(firsts)
    tasks = [
        asyncio.create_task(client(port, path, per_client, counts, next(clients)))
        for port, path, n in targets
        for _ in range(n)
    ]
    everyone = asyncio.gather(*(first.wait() for first in firsts))
    await asyncio.wait([everyone], timeout=READY_AFTER_SECONDS)
    print("running", flush=True)
    finished = asyncio.gather(*tasks)
    done_or_stopped: list[asyncio.Future[Any]] = [finished, asyncio.create_task(stop.wait())]
    await asyncio.wait(done_or_stopped, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    everyone.cancel()
    await asyncio.gather(finished, return_exceptions=True)
    print(json.dumps(dict(counts)), flush=True)


def target(text: str) -> tuple[int, str, int]:
    where, _, clients = text.rpartition(":")
    port, _, path = where.partition("/")
    return int(port), f"/{path}", int(clients)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--per-client", type=int, required=True)
    parser.add_argument("targets", nargs="+", type=target)
    options = parser.parse_args()
    asyncio.run(run(options.targets, options.seconds, options.per_client))
