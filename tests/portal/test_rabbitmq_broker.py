"""CELERY_BROKER_URL sets the broker apart from REDIS_URL: a real worker over RabbitMQ.

The machine's RabbitMQ (127.0.0.1:5672, guest) carries the tasks on a queue named for this test
alone, and their results (rpc://). The worker writes its metrics to a PROMETHEUS_MULTIPROC_DIR,
read here as /metrics would.
"""

from __future__ import annotations

import socket
import uuid
from contextlib import contextmanager

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from portal.celery import app
from tests.helpers import celery_worker, wait_for

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"

pytestmark = pytest.mark.e2e


def rabbitmq_listens() -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", 5672)) == 0


@contextmanager
def broker(url):
    saved = app.conf.broker_url, app.conf.result_backend, app.conf.task_always_eager
    app.conf.broker_url, app.conf.result_backend = url, "rpc://"  # as settings.py pairs them
    app.conf.task_always_eager = False
    reset_pools()
    try:
        yield
    finally:
        app.conf.broker_url, app.conf.result_backend, app.conf.task_always_eager = saved
        reset_pools()


def reset_pools():
    app._pool = None  # connection pools were built for the old broker
    app.amqp._producer_pool = None
    app._local.__dict__.pop("backend", None)  # and the result backend, per thread


def failures(metrics_dir) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    value = registry.get_sample_value("tollgate_task_failures_total", {"task": "portal.ping"})
    return value or 0.0


def test_a_worker_consumes_from_rabbitmq_and_answers_over_it(tmp_path):
    if not rabbitmq_listens():
        pytest.fail("RabbitMQ is not listening on 127.0.0.1:5672 (apt-get install rabbitmq-server)")
    queue = f"tollgate-test-{uuid.uuid4().hex[:12]}"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"CELERY_BROKER_URL": RABBITMQ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with broker(RABBITMQ), celery_worker(env=env, queues=queue):
        result = app.send_task("portal.ping", args=["over amqp"], queue=queue)
        assert result.get(timeout=60) == "over amqp"
        app.send_task("portal.ping", args=[], queue=queue)  # a TypeError in the worker
        wait_for(lambda: failures(metrics_dir) == 1, timeout=30, what="the failure counted")
        with app.connection_for_write() as connection:
            connection.default_channel.queue_delete(queue)
