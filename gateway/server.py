"""The auth server: nginx's ``auth_request`` upstream, in server processes of its own.

    python -m gateway.server --host 127.0.0.1 --port 8002 --workers 2 --threads 4
    python -m gateway.server --unix /run/tollgate-auth/auth.sock --workers 2 --threads 4

With ``--unix`` it listens on a unix socket instead of TCP: when nginx runs on the same host,
each call then costs the two of them ~20 µs of CPU less (no TCP stack on either side).

This process binds the socket and forks ``--workers`` auth processes (one per core is right:
each is one event loop, ``gateway/worker.py``), which accept on it; it restarts a process that
dies, and on SIGTERM or SIGINT passes the signal on and waits for them to finish the calls in
flight. Each process decides on its event loop, pipelines its decisions' Redis commands
(``gateway/pipelining.py``) and reads the database, on a cache miss, on one of ``--threads``
threads.

It runs the portal's code with the portal's settings (each process sets Django up after the
fork), but serves only ``/gateway/auth`` and the probes ``/livez`` and ``/readyz``
(``portal/health.py``); every other path is a 404. No portal page runs here, so however slow
the portal's pages get, or however many anonymous clients ask for them, decisions keep their
own processes.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import logging
import os
import signal
import socket
import stat
import sys
import time

log = logging.getLogger("gateway.server")

RESTART_DELAY_SECONDS = 1.0
# A process that dies this soon after it started, several times in a row, will not get better
# by restarting (a bad setting, the database's schema): the server exits instead.
CRASH_SECONDS, CRASHES = 5.0, 3


def listening_socket(host: str, port: int) -> socket.socket:
    """The socket every auth process accepts on. SO_REUSEADDR, never SO_REUSEPORT: a second
    server started on the same port fails here instead of sharing its connections.

    Bound here but not listening: each process starts listening on it once Django is set up
    (asyncio's create_server does), so until one is ready a connection is refused, rather than
    accepted into a backlog nobody serves yet (nginx would time out on it, not try again).
    """
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def unix_listening_socket(path: str) -> tuple[socket.socket, int]:
    """A unix socket at `path`, bound but not listening (as listening_socket's), and the lock
    that says a server owns it: `path`.lock, held (flock) for the server's life. A second server
    finds it held and exits, as on a TCP port in use, even while the first is still starting;
    a socket file left by a server that died (its lock went with it) is replaced; a path that is
    no socket is never touched. The lock file stays (removing it would race a starting server).

    Mode 0666, as reachable as 127.0.0.1 is to every local user: what keeps strangers out is the
    gateway secret every request must carry, as over TCP. The directory's mode can narrow it.
    """
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit(f"an auth server already runs on {path}") from None
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise SystemExit(f"{path} exists and is not a socket: not replacing it")
        os.unlink(path)  # no server holds the lock: a dead one's
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    os.chmod(path, 0o666)  # noqa: S103  (see above: the secret guards it, as over TCP)
    sock.set_inheritable(True)
    return sock, lock


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def run_worker(sock: socket.socket, threads: int) -> int:
    """In a forked child: set Django up and serve until told to stop."""
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)  # blocked by the fork (spawn)
    # Django refuses queries on the event loop's thread; that refusal is how a decision that
    # needs the database is moved to a thread (worker.py), so it must never be switched off.
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup(set_prefix=False)
    from gateway.worker import serve

    serve(sock, threads)
    return 0


class Supervisor:
    def __init__(self, sock: socket.socket, workers: int, threads: int) -> None:
        self.sock = sock
        self.workers = workers
        self.threads = threads
        self.children: dict[int, float] = {}  # pid → when it started
        self.stopping = False
        self.crashes = 0

    def spawn(self) -> None:
        # A stop signal between the fork and the child's own handlers would run this
        # supervisor's `stop` in the child, which would then serve on, deaf to it, while we
        # wait for it: the signals wait, blocked, until each side has its handlers. A stop
        # that came since the caller looked would never reach a process forked now: none is.
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        if self.stopping:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            return
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = run_worker(self.sock, self.threads)
            except BaseException:
                log.exception("auth process failed")
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = time.monotonic()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def stop(self, signum: int, _frame: object) -> None:
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):  # it exited meanwhile
                os.kill(pid, signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        for _ in range(self.workers):
            self.spawn()
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            started = self.children.pop(pid, None)
            if started is None or self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            self.crashes = self.crashes + 1 if time.monotonic() - started < CRASH_SECONDS else 0
            if self.crashes >= CRASHES:
                log.error("auth processes keep exiting at start (last: %s); stopping", code)
                self.stop(signal.SIGTERM, None)
                self.wait_all()
                return 1
            log.warning("auth process %s exited (%s); starting another", pid, code)
            time.sleep(RESTART_DELAY_SECONDS)
            if not self.stopping:
                self.spawn()
        return 0

    def wait_all(self) -> None:
        while self.children:
            try:
                pid, _ = os.wait()
            except ChildProcessError:
                return
            self.children.pop(pid, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--unix", default="", metavar="PATH",
                        help="listen on this unix socket instead of --host and --port (nginx "
                             "on the same host: unix:PATH in AUTH_SERVER_ADDRESS)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="auth processes, one per core (default: the cores)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=4,
                        help="threads per process for cache misses and /readyz")  # fmt: skip
    args = parser.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        parser.error("--workers and --threads must be at least 1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.unix:
        return Supervisor(listening_socket(args.host, args.port), args.workers, args.threads).run()
    sock, _lock = unix_listening_socket(args.unix)  # held until this process exits
    try:
        return Supervisor(sock, args.workers, args.threads).run()
    finally:  # still ours: no other server starts while the lock is held
        with contextlib.suppress(FileNotFoundError):
            os.unlink(args.unix)


if __name__ == "__main__":
    sys.exit(main())
