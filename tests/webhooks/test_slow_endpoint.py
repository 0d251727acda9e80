"""A receiver that hangs does not hold up another endpoint's deliveries (real Celery worker,
run as `make run` runs it: the `webhooks` queue on a thread pool)."""

from __future__ import annotations

import threading

import pytest

from apikeys.models import ApiKey
from portal.celery import app as celery_app
from portal.celery import ping
from tests.helpers import celery_worker, wait_for
from tests.webhooks.helpers import worker_env
from webhooks import endpoints
from webhooks.models import Delivery

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_hanging_endpoint_does_not_delay_another(team, alice, receiver, trust_test_ca, tmp_path):
    fast_arrived = threading.Event()
    slow_saw_fast = []

    def respond(received):
        if received.path == "/slow":
            # Hang until the other endpoint has its event: if deliveries waited on this one,
            # it would never come, and the worker's timeout would cut this request off first.
            slow_saw_fast.append(fast_arrived.wait(timeout=30))
        else:
            fast_arrived.set()
        return 200

    receiver.respond = respond
    endpoints.create(team, alice, None, url=receiver.url(path="/slow"), event_types=["key.created"])
    endpoints.create(team, alice, None, url=receiver.url(path="/fast"), event_types=["key.created"])
    env = worker_env(trust_test_ca, tmp_path, WEBHOOKS_TIMEOUT_SECONDS="20")
    celery_app.conf.task_always_eager = False
    pool = ("threads", "--concurrency", "4")
    with celery_worker(env=env, queues="celery,webhooks", pool=pool):
        assert ping.delay("up").get(timeout=30) == "up"
        ApiKey.objects.issue(team, name="k", created_by=alice)  # both deliveries queued
        wait_for(
            lambda: Delivery.objects.filter(status="succeeded").count() == 2,
            timeout=60,
            what="both deliveries",
        )
    assert slow_saw_fast == [True]
    assert sorted(r.path for r in receiver.requests) == ["/fast", "/slow"]
