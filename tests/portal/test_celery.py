from __future__ import annotations

import pytest

from portal.celery import ping
from tests.helpers import celery_worker


@pytest.mark.e2e
def test_a_task_round_trips_through_a_real_worker_and_redis(redis_db):
    from portal.celery import app

    app.conf.task_always_eager = False
    with celery_worker():
        result = ping.delay("hello from the test")
        assert result.get(timeout=60) == "hello from the test"
