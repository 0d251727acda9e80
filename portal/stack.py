"""The processes of the whole stack, supervised by ``manage.py runstack`` (``make run``).

Each service is a plain command line. The supervisor starts them in order, waits for the ones
that others need, prints where everything runs, and on Ctrl-C (or when any one exits) stops all
of them, newest first.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils.module_loading import import_string

from portal import embedded_redis

STOP_TIMEOUT_SECONDS = 10.0
# Every process of the stack listens on loopback; settings.PORTAL_PORT and the ports beside it.
HOST = "127.0.0.1"


@dataclass
class Service:
    name: str
    argv: list[str]
    url: str = ""
    # Called after start; returns when the service is ready for the next one to start.
    wait_ready: Callable[[], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    # Where it listens: checked free before anything starts (see taken_addresses).
    address: tuple[str, int] | None = None


def python_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def portal_service() -> Service:
    host, port = HOST, settings.PORTAL_PORT
    return Service(
        name="portal",
        argv=[
            python_bin("granian"),
            "--interface",
            "wsgi",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            os.environ.get("PORTAL_WORKERS", "2"),
            "--blocking-threads",
            os.environ.get("PORTAL_THREADS", "8"),
            "--no-ws",
            "portal.wsgi:application",
        ],
        url=f"http://{host}:{port}",
        address=(host, port),
    )


def celery_services() -> list[Service]:
    celery = python_bin("celery")
    return [
        Service("worker", [celery, "-A", "portal", "worker", "-l", "info", "--concurrency", "2"]),
        # Webhook deliveries wait on customers' servers: threads, so a slow one holds only one.
        Service(
            "webhooks",
            [
                celery,
                "-A",
                "portal",
                "worker",
                "-l",
                "info",
                "-Q",
                "webhooks",
                "-n",
                "webhooks@%h",
                "--pool",
                "threads",
                "--concurrency",
                "8",
            ],
        ),
        Service(
            "beat",
            [
                celery,
                "-A",
                "portal",
                "beat",
                "-l",
                "info",
                "-s",
                settings.CELERY_BEAT_SCHEDULE_FILENAME,
            ],
        ),
    ]


def redis_service() -> list[Service]:
    if not settings.REDIS_IS_EMBEDDED:
        return []
    socket_path = settings.EMBEDDED_REDIS_SOCKET
    return [
        Service(
            "redis",
            embedded_redis.server_command(socket_path, daemonize=False),
            url=f"unix://{socket_path}",
            wait_ready=lambda: embedded_redis.wait_until_up(socket_path),
        )
    ]


def portal_services() -> list[Service]:
    return [portal_service()]


# Each app adds the processes it needs as a function returning Services, named by import path
# (so apps can import Service from here without a cycle). Started in this order.
SERVICE_BUILDERS = [
    "portal.stack.redis_service",
    "portal.stack.portal_services",
    "portal.stack.celery_services",
    "billing.stack.stripe_simulator_service",
    "gateway.stack.gateway_services",
    "usage.stack.usage_services",
]


def all_services() -> list[Service]:
    return [service for path in SERVICE_BUILDERS for service in import_string(path)()]


def address_taken(host: str, port: int) -> bool:
    """Whether something already listens there. granian listens with SO_REUSEPORT, so a second
    stack started on the same port would not fail: it would silently share the connections of
    the first (old code answering half the calls). A plain bind refuses to share."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "taken"
        try:
            sock.bind((host.strip("[]"), port))
        except OSError:
            return True
    return False


def taken_addresses(services: list[Service]) -> list[str]:
    return [
        f"{service.name} on {host}:{port}"
        for service in services
        if service.address is not None
        for host, port in [service.address]
        if address_taken(host, port)
    ]


class Supervisor:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.log = log
        self.running: list[tuple[Service, subprocess.Popen[bytes]]] = []
        self.stopping = False

    def start(self, services: list[Service]) -> None:
        for service in services:
            # Each child gets its own process group so a terminal's Ctrl-C reaches only us,
            # and we stop the children in order.
            process = subprocess.Popen(
                service.argv, env={**os.environ, **service.env}, start_new_session=True
            )
            self.running.append((service, process))
            if service.wait_ready is not None:
                service.wait_ready()

    def wait(self) -> int:
        signal.signal(signal.SIGINT, self._request_stop)
        signal.signal(signal.SIGTERM, self._request_stop)
        while not self.stopping:
            for service, process in self.running:
                if process.poll() is not None:
                    self.log(f"{service.name} exited with {process.returncode}; stopping the rest")
                    self.stopping = True
                    break
            time.sleep(0.2)
        return self.stop_all()

    def _request_stop(self, signum: int, frame: object) -> None:
        self.stopping = True

    def stop_all(self) -> int:
        failed = 0
        for service, process in reversed(self.running):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    self.log(f"{service.name} did not stop in time; killing it")
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            failed |= process.returncode not in (0, -signal.SIGTERM, -signal.SIGINT)
            self.log(f"stopped {service.name}")
        return int(failed)
