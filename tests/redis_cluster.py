"""A real three-master Redis Cluster from Debian's redis-server, on free ports of the test's own.

Each node runs with ``--cluster-enabled yes`` in a directory of its own (``nodes.conf`` is
relative to it); ``redis-cli --cluster create`` assigns the 16,384 slots over the three.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import redis

from tests.helpers import free_port, wait_for

CLUSTER_BUS_OFFSET = 10_000  # each node also listens on its port + 10,000 for the cluster bus


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def node_port() -> int:
    """A free port whose cluster bus port is free too (and below 65,536)."""
    for _ in range(100):
        port = free_port()
        if port + CLUSTER_BUS_OFFSET < 65_536 and port_free(port + CLUSTER_BUS_OFFSET):
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisClusterServers:
    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.workdir = workdir
        self.ports: list[int] = []
        self.masters = masters
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """Any node: the client learns the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def client(self) -> redis.RedisCluster:
        return redis.RedisCluster(host="127.0.0.1", port=self.ports[0], socket_timeout=2)

    def start(self) -> RedisClusterServers:
        for _ in range(self.masters):
            port = node_port()
            node_dir = self.workdir / f"node-{port}"
            node_dir.mkdir(parents=True)
            command = [
                "redis-server", "--port", str(port), "--bind", "127.0.0.1",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--save", "", "--appendonly", "no", "--dir", str(node_dir),
            ]  # fmt: skip
            self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
            self.ports.append(port)
        for port in self.ports:
            wait_for(lambda p=port: self.answers(p), what=f"cluster node {port}")
        subprocess.run(
            [shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
             *(f"127.0.0.1:{port}" for port in self.ports), "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, timeout=30,
        )  # fmt: skip
        wait_for(self.ready, timeout=20, what="cluster_state:ok on every node")
        return self

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=1)

    def answers(self, port: int) -> bool:
        try:
            return bool(self.node(port).ping())
        except redis.ConnectionError:
            return False

    def ready(self) -> bool:
        try:
            return all(
                self.node(port).cluster("info")["cluster_state"] == "ok" for port in self.ports
            )
        except redis.RedisError:
            return False

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=10)
        self.processes.clear()
