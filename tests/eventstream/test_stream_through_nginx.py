"""Every call through nginx becomes one usage event on NATS JetStream, none lost, across a
restart of the broker (a private nats-server of the test's own, never the machine's)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import shutil
import subprocess
import uuid

import pytest
import requests

from eventstream import publisher
from eventstream.events import event_id
from eventstream.models import StreamCursor
from tests.gateway.stack import GatewayStack, hammer
from tests.gateway.support import make_key, make_plan, make_product
from tests.helpers import ROOT, free_port, listening, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def load_consumer_example():
    path = ROOT / "deploy" / "eventstream" / "consumer.py"
    spec = importlib.util.spec_from_file_location("tollgate_consumer_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class PrivateNats:
    def __init__(self, workdir) -> None:
        self.port = free_port()
        self.store = workdir / "jetstream"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for(lambda: listening(self.port), what="nats-server")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=15)
            self.process = None


@pytest.fixture
def nats_server(tmp_path):
    server = PrivateNats(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def stack(tmp_path, redis_db):
    make_plan("open", [make_product()], is_default=True, requests_per_second=100000,
              requests_per_minute=1000000, requests_per_period=1000000)  # fmt: skip
    running = GatewayStack(tmp_path).start()
    yield running
    running.stop()


@pytest.fixture
def stream_settings(settings, nats_server):
    name = f"TGTEST_{uuid.uuid4().hex[:10]}"  # a stream of this test's own
    settings.EVENTSTREAM_NATS_URL = nats_server.url
    settings.EVENTSTREAM_STREAM = name
    settings.EVENTSTREAM_SUBJECT = f"tgtest.{name}.calls"
    return settings


def log_lines(stack) -> list[str]:
    return stack.access_log().splitlines()


def refused_calls(stack, n: int) -> None:
    for i in range(n):
        headers = {"Authorization": "Bearer tg_live_nope"} if i % 2 else {}
        response = requests.get(f"{stack.url}/demo/hello", headers=headers, timeout=10)
        assert response.status_code == 401


def test_every_call_is_one_event_none_lost_across_a_broker_restart(
    stack, stream_settings, nats_server, team
):
    raw, key = make_key(team)
    log_path = stack.workdir / "nginx" / "access.log"
    assert hammer(stack.port, "/demo/hello", raw, total=150, connections=10) == {200: 150}
    refused_calls(stack, 10)
    wait_for(lambda: len(log_lines(stack)) == 160, what="the access log")
    assert publisher.publish_available(log_path) == 160

    nats_server.stop()  # the broker goes away: calls go on, events wait
    assert hammer(stack.port, "/demo/hello", raw, total=90, connections=10) == {200: 90}
    refused_calls(stack, 6)
    wait_for(lambda: len(log_lines(stack)) == 256, what="the access log")
    assert publisher.publish_available(log_path) == 0
    nats_server.start()
    assert publisher.publish_available(log_path) == 96

    # A publisher that died before saving its cursor publishes the same lines again.
    StreamCursor.objects.filter(path=str(log_path)).update(offset=0)
    assert publisher.publish_available(log_path) == 256

    received: list[dict] = []
    consumer = load_consumer_example()
    asyncio.run(
        consumer.consume(
            nats_server.url, stream_settings.EVENTSTREAM_STREAM, "tgtest", received.append,
            stop_when_idle=2,
        )
    )  # fmt: skip
    ids = {event["id"] for event in received}
    assert len(ids) == 256  # exactly the calls: none lost (duplicates would be allowed)

    # Each id is the line's: host, the log file's identity, the line's offset.
    inode, host = log_path.stat().st_ino, stream_settings.GATEWAY_HOST_ID
    offset, expected = 0, set()
    for line in log_path.read_bytes().split(b"\n")[:-1]:
        expected.add(event_id(host, inode, offset))
        offset += len(line) + 1
    assert ids == expected

    by_reason = {}
    for event in received:
        by_reason.setdefault(event["refusal_reason"], event)
    admitted, missing = by_reason[None], by_reason["missing_key"]
    assert admitted["admitted"] and admitted["key_id"] == key.public_id
    assert admitted["account_id"] == team.pk and admitted["method"] == "GET"
    assert admitted["path"] == "/demo/hello" and admitted["status"] == 200
    assert admitted["request_bytes"] > 0 and admitted["response_bytes"] > 0
    assert admitted["upstream_ms"] is not None and admitted["total_ms"] is not None
    assert admitted["client_ip"] == "127.0.0.1" and admitted["endpoint"]
    assert not missing["admitted"] and missing["status"] == 401 and missing["key_id"] is None
    assert "invalid_key" in by_reason
    assert sum(1 for e in received if e["admitted"]) == 240
    json.dumps(received)  # plain JSON all the way
