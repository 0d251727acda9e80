"""Two real processes on the real Redis: one revokes, the other stops honouring the key."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest
from django.db import connection

from tests.helpers import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SETUP = """
import os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()
"""

WATCHER = (
    SETUP
    + """
from apikeys import records
raw = sys.stdin.readline().strip()
assert records.lookup(raw).status == "active"
assert records.listener.wait_until_connected(10)
assert records.lookup(raw).status == "active"  # now served from the cache
print("ready", flush=True)
deadline = time.time() + 20
while time.time() < deadline:
    record = records.lookup(raw)
    if record is None or record.status != "active":
        print(f"refused {time.time()}", flush=True)
        break
    time.sleep(0.002)
"""
)

REVOKER = (
    SETUP
    + """
from apikeys.models import ApiKey
key = ApiKey.objects.get(public_id=sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
started = time.time()
key.revoke()
print(f"revoked {started}", flush=True)
"""
)


def database_url_for_children(tmp_path) -> str:
    """The test database, as a URL another process can open."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        return f"postgres://{db['USER']}@{host}:{port}/{db['NAME']}"
    # The embedded default tests on an in-memory SQLite: hand the children a copy on disk.
    path = tmp_path / "shared.sqlite3"
    connection.ensure_connection()
    target = sqlite3.connect(path)
    connection.connection.backup(target)
    target.close()
    return f"sqlite:///{path}"


def start(script: str, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        cwd=ROOT, env=env, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip


def test_a_revocation_in_one_process_is_seen_by_another_within_one_second(issue_key, tmp_path):
    key, raw = issue_key()
    env = {**os.environ, "DATABASE_URL": database_url_for_children(tmp_path)}
    watcher = start(WATCHER, env)
    revoker = start(REVOKER, env, key.public_id)
    try:
        watcher.stdin.write(raw + "\n")
        watcher.stdin.flush()
        assert watcher.stdout.readline().strip() == "ready"
        assert revoker.stdout.readline().strip() == "ready"

        revoker.stdin.write("go\n")
        revoker.stdin.flush()
        revoked_at = float(revoker.stdout.readline().split()[1])
        refused_at = float(watcher.stdout.readline().split()[1])
        assert refused_at - revoked_at < 1.0
        print(f"revocation seen by the other process after {refused_at - revoked_at:.3f} s")
    finally:
        for process in (watcher, revoker):
            process.kill()
            process.wait()
