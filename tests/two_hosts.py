"""Gateway hosts of their own on this machine: a network namespace and a veth pair each.

Each host runs nginx, the auth server (the portal's WSGI app, which serves /gateway/auth), the
demo API and a log collector, all inside its namespace; they reach the main host's PostgreSQL
and Redis through the host's veth peer, where a forwarder relays to them (both listen on
127.0.0.1 only). Every process of a host also bind-mounts the host's own directory over one
common path, so the hosts' nginx write their access logs to the same path and different files,
as on separate machines.

Only what this module made is touched: namespaces and links named after this process's id, and
the processes it started. `stop()` removes them all, whatever failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings

from gateway.management.commands.gateway_config import render
from gateway.signing import public_jwk, write_private_file
from portal.keyfiles import ed25519_pem
from tests.helpers import ROOT, free_port, wait_for

GRANIAN = str(Path(sys.executable).with_name("granian"))
GATEWAY_PORT, AUTH_PORT, DEMO_PORT = 8080, 8000, 8081  # on each host's own address


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


class Forwarder:
    """Relays TCP connections from an address on the main host to a local server."""

    def __init__(self, listen_host: str, target_host: str, target_port: int) -> None:
        self.listen_host, self.target = listen_host, (target_host, target_port)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> Forwarder:
        self.thread.start()
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self.relay, self.listen_host, 0), self.loop
        ).result(10)
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        await asyncio.gather(pump(reader, target_writer), pump(target_reader, writer))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def answers(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(address) == 0


@dataclass
class Host:
    """One gateway host: its namespace, addresses, directory and processes."""

    name: str
    namespace: str
    link: str
    main_address: str  # the veth end on the main host
    address: str  # the veth end inside the namespace: where clients reach its nginx
    directory: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    forwarders: list[Forwarder] = field(default_factory=list)

    def __str__(self) -> str:
        return self.name


class TwoHosts:
    def __init__(
        self, workdir: Path, database: tuple[str, int, str, str], redis: tuple[str, int, str]
    ):
        """database: (host, port, user, name) of the test database; redis: (host, port, db)."""
        self.workdir = workdir
        self.database, self.redis = database, redis
        self.common = workdir / "gateway"  # the path every host's processes see as their own
        self.common.mkdir()
        tag = os.getpid() % 100_000
        subnet = os.getpid() % 250
        self.hosts = [
            Host(
                name=f"host-{letter}", namespace=f"tg{tag}{letter}", link=f"tg{tag}{letter}0",
                main_address=f"10.{77 + n}.{subnet}.1", address=f"10.{77 + n}.{subnet}.2",
                directory=workdir / f"host-{letter}",
            )
            for n, letter in enumerate("ab")
        ]  # fmt: skip

    # --- The network --------------------------------------------------------------------------

    def build_network(self) -> None:
        for host in self.hosts:
            peer = host.link[:-1] + "1"
            ip("netns", "add", host.namespace)
            ip("link", "add", host.link, "type", "veth", "peer", "name", peer)
            ip("link", "set", peer, "netns", host.namespace)
            ip("addr", "add", f"{host.main_address}/30", "dev", host.link)
            ip("link", "set", host.link, "up")
            inside = ("netns", "exec", host.namespace, "ip")
            ip(*inside, "addr", "add", f"{host.address}/30", "dev", peer)
            ip(*inside, "link", "set", peer, "up")
            ip(*inside, "link", "set", "lo", "up")

    def tear_down_network(self) -> None:
        for host in self.hosts:
            for args in (("link", "del", host.link), ("netns", "del", host.namespace)):
                subprocess.run(["ip", *args], capture_output=True, timeout=30, check=False)

    # --- The processes ------------------------------------------------------------------------

    def start(self, collectors: dict[str, int]) -> TwoHosts:
        """Everything up; `collectors` says how many log collectors each host runs."""
        self.build_network()
        key = Ed25519PrivateKey.generate()
        for host in self.hosts:
            host.directory.mkdir()
            # The hosts share the signing key (a deployment copies it to each); the demo API
            # has no portal here, so it reads the JWKS from a file (file: URLs work as http:).
            (host.directory / "var").mkdir()
            write_private_file(host.directory / "var" / "entitlement_signing_key.pem",
                               ed25519_pem(key))  # fmt: skip
            (host.directory / "jwks.json").write_text(
                json.dumps({"keys": [public_jwk(key.public_key())]})
            )
            db_host, db_port, db_user, db_name = self.database
            to_database = Forwarder(host.main_address, db_host, db_port).start()
            to_redis = Forwarder(host.main_address, *self.redis[:2]).start()
            host.forwarders += [to_database, to_redis]
            env = self.environment(host, to_database.port, to_redis.port, db_user, db_name)
            (host.directory / "nginx.conf").write_text(
                render({
                    "run_dir": str(self.common), "workers": "1",
                    "listen": f"{host.address}:{GATEWAY_PORT}",
                    "auth": f"{host.address}:{AUTH_PORT}", "portal": f"{host.address}:{AUTH_PORT}",
                    "upstream": [f"demo=http://{host.address}:{DEMO_PORT}"],
                    "no_access_log": False,
                })
            )  # fmt: skip
            self.run(
                host, "demo", env, self.granian("gateway.demo_api:application", host, DEMO_PORT)
            )
            self.run(host, "auth", env, [sys.executable, "-m", "gateway.server", "--host",
                                         host.address, "--port", str(AUTH_PORT), "--workers", "1",
                                         "--threads", "8"])  # fmt: skip
            self.run(host, "nginx", env, ["/usr/sbin/nginx", "-p", str(self.common),
                                          "-c", str(self.common / "nginx.conf"),
                                          "-g", "daemon off;"])  # fmt: skip
            for n in range(collectors.get(host.name, 1)):
                self.run(host, f"collector-{n}", env, [
                    sys.executable, "manage.py", "collect_gateway_logs", "--follow",
                    "--path", str(self.common / "access.log"),
                ])  # fmt: skip
        for host in self.hosts:
            for port in (DEMO_PORT, AUTH_PORT, GATEWAY_PORT):
                wait_for(
                    lambda a=(host.address, port): answers(a), timeout=60, what=f"{host} {port}"
                )
        return self

    def environment(self, host: Host, db_port: int, redis_port: int, user: str, name: str):
        return {
            **os.environ,
            "DATABASE_URL": f"postgres://{user}@{host.main_address}:{db_port}/{name}",
            "REDIS_URL": f"redis://{host.main_address}:{redis_port}/{self.redis[2]}",
            "SECRET_KEY": settings.SECRET_KEY,
            "APIKEY_PEPPER": settings.APIKEY_PEPPER,
            "GATEWAY_SECRET": settings.GATEWAY_SECRET,
            "GATEWAY_HOST_ID": host.name,
            "TOLLGATE_VAR_DIR": str(self.common / "var"),
            "DEMO_API_JWKS_URL": (self.common / "jwks.json").as_uri(),
            "SITE_URL": settings.SITE_URL,
            "LOG_LEVEL": "WARNING",
        }

    def granian(self, app: str, host: Host, port: int) -> list[str]:
        return [GRANIAN, "--interface", "wsgi", "--host", host.address, "--port", str(port),
                "--workers", "1", "--blocking-threads", "8", "--no-ws", "--log-level",
                "warning", app]  # fmt: skip

    def run(self, host: Host, name: str, env: dict[str, str], command: list[str]) -> None:
        """A process inside the host: its namespace, and its directory over the common path."""
        mount = f"mount --bind {shlex.quote(str(host.directory))} {shlex.quote(str(self.common))}"
        log = open(host.directory.parent / f"{host.name}-{name}.log", "wb")  # noqa: SIM115
        host.processes[name] = subprocess.Popen(
            ["ip", "netns", "exec", host.namespace, "sh", "-c",
             f'{mount} && exec "$@"', "sh", *command],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def stop(self) -> None:
        try:
            for host in self.hosts:
                for process in host.processes.values():
                    process.terminate()
                for process in host.processes.values():
                    try:
                        process.wait(timeout=10)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                for forwarder in host.forwarders:
                    forwarder.stop()
        finally:
            self.tear_down_network()

    def access_log(self, host: Host) -> list[str]:
        path = host.directory / "access.log"
        return path.read_text().splitlines() if path.exists() else []


__all__ = ["Forwarder", "Host", "TwoHosts", "free_port"]
