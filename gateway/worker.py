"""One auth server process (gateway/server.py forks one per core): HTTP/1.1 on a uvloop event
loop, parsed by httptools, each decision run on the loop and its Redis command pipelined.

A decision is ``gateway.decide.decide``, the same function the WSGI callable runs
(``gateway/wsgi.py``), in a greenlet (``gateway/pipelining.py``): while it waits for its Redis
reply the loop serves other calls, and the commands of every decision ready in one loop
iteration share one round trip. The caches answer a long-running gateway's calls from memory;
a key record or policy not cached parks its decision until a thread of the executor has read
it with every other miss of the moment, in one query (core.first_loads). When a decision needs
the database otherwise (the catalog not loaded yet), Django refuses the query on the loop's
thread before it starts (``SynchronousOnlyOperation``) and the decision runs again from the
start on a thread of the executor, as under WSGI: a slow database holds a thread, never the
loop. Nothing was counted before that point (counting is the last step), so running it again
never counts twice. The one decision that asks the database after
its command left is ``GATEWAY_ON_REDIS_DOWN=allow`` recording a call Redis failed under: it
runs again on a thread with that same failure in place of its round trip (nothing is sent
twice), and writes its row there.

Behind the transport, everything is as under WSGI: the ``X-Gateway-Secret`` check (404
without it), the answers and headers, ``unavailable`` when deciding fails, the metrics (tallied
on the loop, added to Prometheus's every 100 ms: ``portal.metrics.Tally``), and
``/livez`` (on the loop: it asks no dependency) and ``/readyz`` (on a thread: it asks the
database, Redis and the broker) from ``portal.health``. Anything else is a 404.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import socket
import sys
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import httptools
import redis
import uvloop
from django.conf import settings
from django.core.exceptions import SynchronousOnlyOperation

from core import collector, first_loads
from gateway import leasing, pipelining, tallying
from gateway.decide import Decision, refuse
from gateway.wsgi import AUTH_PATH, decision_for, has_gateway_secret, prepare_process
from portal.health import LIVEZ_PATH, PROBE_PATHS, probe_application
from portal.metrics import Tally
from portal.redis_client import get_redis
from portal.request_id import clean as clean_request_id

log = logging.getLogger(__name__)

# Requests come from nginx: small, never pipelined, no body. Anything beyond these is refused.
MAX_HEAD_BYTES = 64 * 1024  # request line and headers (nginx's own limit is 4 buffers of 8 KB)
# nginx sends ten headers (deploy/nginx/gateway.conf.template passes none of the client's but
# its key). Each costs a parser callback: 32 KB of one-byte headers a call would cost the one
# loop ~4,000 of them, a hundred times a call's own work, so a head with more is refused.
MAX_HEADERS = 100
MAX_BODY_BYTES = 64 * 1024  # read and thrown away
MAX_QUEUED_REQUESTS = 16  # requests pipelined on one connection, waiting their turn
IDLE_SECONDS = 600.0  # longer than nginx's upstream keepalive_timeout (300 s), which closes first
HEAD_SECONDS = 30.0  # to finish sending a request once it began
SWEEP_SECONDS = 5.0
# File descriptors each process keeps out of its connections' reach: the Redis pipeline, each
# thread's database and Redis connections, logs, the loop's own. Running out of them, a process
# can neither accept nginx's connections (libuv resets them) nor reconnect to Redis.
FDS_KEPT_FREE_BASE, FDS_KEPT_FREE_PER_THREAD = 32, 4
STOP_SECONDS = 10.0  # on SIGTERM: how long calls in flight may take to finish
# How long another thread (a cache's background reloads, a first load, a decision on a thread)
# may hold the interpreter once the loop asks for it back (CPython: 5 ms). The loop lets go of
# it at every socket call, and a reload waiting then takes it: with 5 ms turns every call in
# flight waited out each one while nginx and the other core had nothing to do. Measured on bench
# (j) (100,000 hot keys, their records and policies reloaded every few minutes) on a slow VM:
# 3,691-3,931 calls a second with 5 ms, 5,468 with 0.5 ms.
SWITCH_INTERVAL_SECONDS = 0.0005

REASONS = {200: "OK", 204: "No Content", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 413: "Content Too Large",
           431: "Request Header Fields Too Large", 400: "Bad Request",
           503: "Service Unavailable"}  # fmt: skip
NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot Found"
)


def environ_name(name: bytes) -> str | None:
    """WSGI's name for a request header; None for names with "_", which nginx drops from
    clients and which must not pass for the dashed name (X_Gateway_Secret)."""
    if b"_" in name:
        return None
    return "HTTP_" + name.decode("latin-1").upper().replace("-", "_")


class HeaderNames(dict[bytes, str | None]):
    """Header name, as sent → WSGI name, computed once per distinct name (at most LIMIT kept:
    nginx spells its own headers alike every time; clients' names beyond it are converted
    each time)."""

    LIMIT = 512

    def __missing__(self, name: bytes) -> str | None:
        converted = environ_name(name)
        if len(self) < self.LIMIT:
            self[name] = converted
        return converted


HEADER_NAMES = HeaderNames()


def head(status: int, headers: list[tuple[str, str]], keep_alive: bool) -> bytes:
    """The response head; 204 has no body, anything else an empty one (kept-alive safely)."""
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"]
    for name, value in headers:
        if "\r" in value or "\n" in value:  # (the names are the decision's own constants)
            log.warning("gateway: dropped header %r with a line break in its value", name)
            continue
        lines.append(f"{name}: {value}\r\n")
    if status != 204:
        lines.append("Content-Length: 0\r\n")
    if not keep_alive:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("latin-1", "replace")


class Worker:
    """What one process shares between its connections: the loop, the pipeline, the threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threads: int) -> None:
        self.loop = loop
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="auth")
        self.connections: set[Connection] = set()
        # Connections that have not (yet) carried a request with the gateway secret, oldest
        # first: anyone who can reach the port can open them, so they go first at the cap.
        self.strangers: dict[Connection, None] = {}
        self.max_connections: int = settings.GATEWAY_AUTH_MAX_CONNECTIONS
        self.fds_kept_free = FDS_KEPT_FREE_BASE + FDS_KEPT_FREE_PER_THREAD * threads
        self.first_byte_seconds = float(settings.GATEWAY_AUTH_FIRST_BYTE_SECONDS)
        self.evicted = self.refused = 0  # since the last sweep, which logs them
        self.tally = Tally()  # the decisions' metrics, added to Prometheus's every tick
        self.pipeline = self.make_pipeline()
        self.leases: leasing.Leases | None = None
        self.tallies: tallying.Tallies | None = None
        if self.pipeline is not None:
            self.tallies = tallying.active = tallying.Tallies(self.pipeline)
            # A miss parks its decision and is read with the others' (core.first_loads).
            first_loads.running = first_loads.Loop(loop, self.executor, pipelining.on_loop)
        if self.pipeline is not None and settings.GATEWAY_LEASE_MAX_CALLS:
            self.leases = leasing.active = leasing.Leases(
                self.pipeline, settings.GATEWAY_LEASE_MAX_CALLS
            )

    def make_pipeline(self) -> pipelining.Pipeline | None:
        """A pipeline to a plain Redis over TCP or a unix socket. On a Redis Cluster or over
        TLS, decisions run on the threads instead, each with its own blocking connection
        (gateway/counting.py), as under WSGI."""
        client = get_redis()
        if isinstance(client, redis.RedisCluster):
            return None
        pool = client.connection_pool
        if issubclass(pool.connection_class, redis.SSLConnection):
            return None
        return pipelining.Pipeline(self.loop, dict(pool.connection_kwargs))

    def admit(self, connection: Connection) -> bool:
        """Make room for a connection just accepted, or say there is none: at the cap, the
        oldest stranger is closed for it; when nginx's own connections fill the cap, the
        newcomer is refused. Either way the process never holds more than the cap, so never
        runs out of descriptors. Called as each is accepted (its protocol is made), not in
        connection_made, which the loop runs later: a burst is counted while it arrives."""
        if len(self.connections) >= self.connection_cap():
            if not self.strangers:
                self.refused += 1
                return False
            oldest = next(iter(self.strangers))
            self.forget(oldest)
            oldest.drop()
            self.evicted += 1
        self.connections.add(connection)
        self.strangers[connection] = None
        return True

    def forget(self, connection: Connection) -> None:
        self.connections.discard(connection)
        self.strangers.pop(connection, None)

    def trust(self, connection: Connection) -> None:
        """The connection carried the gateway secret: it is nginx's, kept alive for long."""
        connection.trusted = True
        self.strangers.pop(connection, None)

    def decide(self, connection: Connection, environ: dict[str, Any]) -> None:
        if not has_gateway_secret(environ):
            # Without the secret the endpoint does not exist, as far as anyone can tell.
            connection.send(NOT_FOUND)
            return
        if not connection.trusted:  # once per connection: nginx's carry many calls each
            self.trust(connection)
        started = time.perf_counter()
        if self.pipeline is None:
            self.in_thread(connection, environ, started)
            return

        def run(_: object = None) -> Any:
            try:
                return decision_for(environ)
            except SynchronousOnlyOperation:
                return NEEDS_DATABASE

        def done(result: Any) -> None:
            if result is not NEEDS_DATABASE:
                self.answer(connection, result, started)
            elif not decision.sent:
                self.in_thread(connection, environ, started)
            elif decision.failure is not None:
                self.in_thread(connection, environ, started, replaying=decision.failure)
            else:
                request_id = clean_request_id(environ.get("HTTP_X_REQUEST_ID"))
                log.error("gateway: a decision asked the database after counting",
                          extra={"request_id": request_id})  # fmt: skip
                self.answer(connection, refuse(403, "unavailable", 1), started)

        decision = self.pipeline.decision()
        decision.start(run, done)

    def in_thread(
        self,
        connection: Connection,
        environ: dict[str, Any],
        started: float,
        replaying: BaseException | None = None,
    ) -> None:
        def done(future: asyncio.Future[Decision]) -> None:
            try:
                decision = future.result()
            except Exception:  # the executor shut down (SIGTERM) or a thread could not start
                log.exception("gateway: could not decide on a thread")
                decision = refuse(403, "unavailable", 1)
            self.answer(connection, decision, started)

        self.loop.run_in_executor(
            self.executor, decision_in_thread, environ, replaying
        ).add_done_callback(done)

    def answer(self, connection: Connection, decision: Decision, started: float) -> None:
        elapsed = time.perf_counter() - started
        connection.answer(decision)  # first: nginx is waiting for it, the metrics are not
        outcome = "admitted" if decision.admitted else "refused"
        self.tally.add(outcome, decision.reason or "ok", elapsed)

    def probe(self, connection: Connection, environ: dict[str, Any]) -> None:
        if environ["PATH_INFO"] == LIVEZ_PATH:
            connection.send(probe_response(environ))
            return

        def done(future: asyncio.Future[bytes]) -> None:
            try:
                connection.send(future.result())
            except Exception:
                log.exception("gateway: could not answer %s", environ["PATH_INFO"])
                connection.refuse(503)

        self.loop.run_in_executor(self.executor, probe_response, environ).add_done_callback(done)

    def tick(self) -> None:
        """Every 100 ms: add the decisions to the metrics, send the tallied calls
        (gateway/tallying.py), close the leases whose term is over (gateway/leasing.py)."""
        now = time.time()
        self.tally.flush()
        if self.tallies is not None:
            self.tallies.tick(now)
        if self.leases is not None:
            self.leases.tick(now)
        self.loop.call_later(leasing.next_tick_delay(now), self.tick)

    def sweep(self) -> None:
        """Close connections idle too long or too slow to send a request."""
        now = time.monotonic()
        for connection in list(self.connections):
            connection.expire(now)
        if self.evicted or self.refused:  # once a sweep: a flood of them must not flood the log
            log.warning("gateway: at the cap of %d connections, closed %d strangers' and "
                        "refused %d new ones", self.connection_cap(), self.evicted,
                        self.refused)  # fmt: skip
            self.evicted = self.refused = 0
        self.loop.call_later(self.sweep_seconds(), self.sweep)

    def sweep_seconds(self) -> float:
        # Often enough that a silent stranger is closed within ~1.5 times its allowance.
        return min(SWEEP_SECONDS, self.first_byte_seconds / 2)

    def connection_cap(self) -> int:
        """GATEWAY_AUTH_MAX_CONNECTIONS, lowered to leave this process's other descriptors
        room under its soft RLIMIT_NOFILE (systemd's default is 1,024: the unit raises it).
        Read on each new connection (one system call; nginx's connections are long-lived),
        so a limit lowered while the process runs (prlimit) is obeyed too."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - self.fds_kept_free))


NEEDS_DATABASE = object()


def decision_in_thread(environ: dict[str, Any], replaying: BaseException | None) -> Decision:
    """On a thread of the executor, with the thread's own blocking Redis connection; or, when
    the decision already failed to reach Redis on the loop, with that failure again."""
    if replaying is None:
        return decision_for(environ)

    def run(_: object = None) -> Decision:
        return decision_for(environ)

    decision: Decision = pipelining.FailedRoundTrip(run, replaying).switch()
    return decision


def probe_response(environ: dict[str, Any]) -> bytes:
    """portal.health's WSGI probe, its answer as bytes."""
    answer: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
        answer[:] = [status, headers]

    body = b"".join(probe_application(environ, start_response))  # type: ignore[arg-type]
    status, headers = answer
    lines = [f"HTTP/1.1 {status}\r\n", *(f"{n}: {v}\r\n" for n, v in headers)]
    if not any(n.lower() == "content-length" for n, _ in headers):
        lines.append(f"Content-Length: {len(body)}\r\n")
    return "".join([*lines, "\r\n"]).encode("latin-1") + body


class Connection(asyncio.Protocol):
    """One of nginx's kept-alive connections: requests answered one at a time, in order."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.parser = httptools.HttpRequestParser(self)
        # nginx passes a client's control bytes on in header values (the key, the raw target):
        # the decision judges those values (invalid_key, invalid_path), where a parse error
        # would reach the client as 503 "unavailable". Only header values: the framing (CR,
        # LF, lengths) stays strict.
        self.parser.set_dangerous_leniencies(lenient_headers=True)
        self.transport: asyncio.Transport | None = None
        self.environ: dict[str, Any] = {}
        self.url = b""
        self.head_bytes = 0
        self.headers_left = MAX_HEADERS
        self.body_bytes = 0
        self.began = 0.0  # when the request being received began (0: none)
        self.active = time.monotonic()
        self.trusted = False  # carried a request with the gateway secret: nginx's
        self.busy = False
        self.keep_alive = True
        self.queue: deque[tuple[dict[str, Any], bool]] = deque()
        self.dropped = not worker.admit(self)

    def drop(self) -> None:
        """Close at once (the descriptor is freed now, not after a FIN), or as soon as the
        loop makes the connection."""
        self.dropped = True
        if self.transport is not None:
            self.transport.abort()

    # -- asyncio ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.dropped:  # refused or closed for a newcomer before it was made
            transport.abort()  # type: ignore[attr-defined]
            return
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker.forget(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.active = time.monotonic()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.refuse(400)
        except httptools.HttpParserError:
            self.refuse(400)

    def pause_writing(self) -> None:  # nginx stopped reading: stop taking requests from it
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None:
            self.transport.resume_reading()

    # -- httptools --------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.environ, self.url, self.head_bytes, self.body_bytes = {}, b"", 0, 0
        self.headers_left = MAX_HEADERS
        self.began = self.active

    def on_url(self, url: bytes) -> None:
        self.url += url
        self.count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        # Called for every header of every call: count_head and the name's conversion inlined.
        self.head_bytes += len(name) + len(value) + 4
        self.headers_left -= 1
        if self.head_bytes > MAX_HEAD_BYTES or self.headers_left < 0:
            raise httptools.HttpParserError("request head too large")
        key = HEADER_NAMES[name]
        if key is not None:
            text = value.decode("latin-1")
            environ = self.environ
            # Repeated headers are joined with commas, as WSGI servers do.
            environ[key] = f"{environ[key]},{text}" if key in environ else text

    def on_headers_complete(self) -> None:
        if self.parser.should_upgrade():  # nginx never asks: only a stranger would
            raise httptools.HttpParserError("upgrade refused")

    def on_body(self, body: bytes) -> None:
        self.body_bytes += len(body)
        if self.body_bytes > MAX_BODY_BYTES:
            raise httptools.HttpParserError("body too large")

    def on_message_complete(self) -> None:
        self.began = 0.0
        raw_path = self.url.partition(b"?")[0].decode("latin-1")
        environ = self.environ
        environ["REQUEST_METHOD"] = self.parser.get_method().decode("latin-1")
        # PATH_INFO is decoded, as WSGI servers give it.
        environ["PATH_INFO"] = unquote(raw_path, "latin-1") if "%" in raw_path else raw_path
        request = (environ, bool(self.parser.should_keep_alive()))
        if self.busy:
            if len(self.queue) >= MAX_QUEUED_REQUESTS:
                self.refuse(400)
                return
            self.queue.append(request)
        else:
            self.handle(request)

    # -- answering --------------------------------------------------------------------------

    def count_head(self, size: int) -> None:
        self.head_bytes += size
        if self.head_bytes > MAX_HEAD_BYTES:
            raise httptools.HttpParserError("request head too large")

    def handle(self, request: tuple[dict[str, Any], bool]) -> None:
        environ, self.keep_alive = request
        self.busy = True
        path = environ["PATH_INFO"]
        if path == AUTH_PATH:
            self.worker.decide(self, environ)
        elif path in PROBE_PATHS:
            self.worker.probe(self, environ)
        else:
            self.send(NOT_FOUND)

    def answer(self, decision: Decision) -> None:
        self.send(head(decision.status, decision.headers, self.keep_alive))

    def send(self, response: bytes) -> None:
        """Write one response and take the next request queued, if any."""
        self.busy = False
        transport = self.transport
        if transport is None or transport.is_closing():
            return  # nginx gave up on this call; it was decided all the same
        if not self.keep_alive and b"\r\nConnection: close\r\n" not in response:
            response = response.replace(b"\r\n", b"\r\nConnection: close\r\n", 1)
        transport.write(response)
        if not self.keep_alive:
            transport.close()
        elif self.queue:
            self.handle(self.queue.popleft())

    def refuse(self, status: int) -> None:
        """A request nginx would never send: answer plainly and close."""
        self.queue.clear()
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(head(status, [], keep_alive=False))
            self.transport.close()

    def expire(self, now: float) -> None:
        if self.transport is None:  # accepted and counted, but the loop never made it
            if now - self.active > self.worker.first_byte_seconds:
                self.worker.forget(self)
            return
        if self.busy:
            return
        # Only nginx's connections may idle long (its keepalive pool); anyone else's is closed
        # soon after it falls silent, from the moment it connected.
        idle_seconds = IDLE_SECONDS if self.trusted else self.worker.first_byte_seconds
        if (self.began and now - self.began > HEAD_SECONDS) or now - self.active > idle_seconds:
            self.transport.close()


def serve(sock: socket.socket, threads: int) -> None:
    """Run one auth process on the listening socket its parent made, until SIGTERM."""
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = Worker(loop, threads)
    prepare_process()
    collector.tune_for_long_caches()  # last: what was made until now lives as long as we do
    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
    server = loop.run_until_complete(
        loop.create_server(lambda: Connection(worker), sock=sock, backlog=2048)
    )
    parent = os.getppid()

    def orphaned() -> None:  # the supervisor died without telling us (SIGKILL)
        if os.getppid() != parent:
            stop()
        else:
            loop.call_later(1.0, orphaned)

    def stop() -> None:
        server.close()
        loop.create_task(drain())

    async def drain() -> None:
        deadline = time.monotonic() + STOP_SECONDS
        while any(c.busy for c in worker.connections) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for connection in list(worker.connections):
            if connection.transport is not None:
                connection.transport.close()
        if worker.leases is not None:  # give back what is leased, count what was spent
            worker.leases.tick(float("inf"))
            while not worker.leases.settled and time.monotonic() < deadline + 1.0:
                await asyncio.sleep(0.01)
                worker.leases.tick(float("inf"))
        if worker.tallies is not None:  # count the calls tallied since the last tick
            worker.tallies.flush()
            while not worker.tallies.settled and time.monotonic() < deadline + 1.0:
                await asyncio.sleep(0.01)
                worker.tallies.flush()
        worker.tally.flush()
        loop.stop()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)
    loop.call_later(worker.sweep_seconds(), worker.sweep)
    loop.call_soon(worker.tick)
    loop.call_later(1.0, orphaned)
    try:
        loop.run_forever()
    finally:
        worker.executor.shutdown(wait=False, cancel_futures=True)
