from __future__ import annotations

import pytest

from apikeys import records
from apikeys.models import ApiKey


@pytest.fixture(autouse=True)
def empty_record_cache():
    records.clear()
    records.unknown_key_budgets.clear()
    yield
    records.clear()


@pytest.fixture
def issue_key(team, alice):
    """issue_key(**overrides) -> (ApiKey, raw): a key of Alice's team."""

    def issue(account=None, **fields):
        fields.setdefault("name", "Server")
        fields.setdefault("created_by", alice)
        return ApiKey.objects.issue(account or team, **fields)

    return issue


@pytest.fixture
def listener_on(settings):
    """Restart this process's invalidation listener against a given Redis URL."""
    started = []

    def start(url: str | None = None):
        records.listener.stop()
        if url:
            settings.REDIS_URL = url
        records.listener.ensure_running()
        started.append(url)
        assert records.listener.wait_until_connected(5), "listener never subscribed"

    yield start
    records.listener.stop()
