from __future__ import annotations

import sqlite3
from contextlib import contextmanager

import pytest
from django.db import connection

from portal import health
from tests.helpers import celery_app_on, celery_worker, free_port

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def database_unreachable():
    """Make the real connection fail, then put it back.

    PostgreSQL: reconnect to a port where no server listens. SQLite's in-memory test database
    vanishes when its connection closes, so there the driver gets a connection that is closed.
    """
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        live, dead = connection.connection, sqlite3.connect(":memory:")
        dead.close()
        connection.connection = dead
        try:
            yield
        finally:
            connection.connection = live
        return
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


@pytest.fixture(autouse=True)
def fresh_rounds():
    """Each test sees its own round of checks, not one cached by an earlier test."""
    health.status.forget()
    health.readiness.forget()
    yield
    health.status.forget()
    health.readiness.forget()


@pytest.fixture
def stack_on(private_redis, settings):
    """Point the portal at a private Redis (so the test can stop it) and start a worker on it."""
    settings.REDIS_URL = private_redis.url
    with celery_app_on(private_redis.url):
        yield private_redis


def test_it_is_ok_when_everything_is_up(client, stack_on):
    with celery_worker(env={"REDIS_URL": stack_on.url}):
        response = None
        for _ in range(40):  # the worker needs a moment to connect
            health.status.forget()  # as if the cached round had expired
            response = client.get("/healthz")
            if response.status_code == 200:
                break
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["worker"] == {"ok": True}


def test_it_names_the_worker_when_none_runs(client, stack_on):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["worker"]


def test_it_names_redis_when_it_stops(client, stack_on):
    stack_on.stop()
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["broker", "redis", "worker"]
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"] == {"ok": True}


def test_it_names_the_database_when_it_is_unreachable(client, stack_on):
    with database_unreachable():
        response = client.get("/healthz")
    assert response.status_code == 503
    assert "database" in response.json()["down"]


def test_it_refuses_post(client):
    assert client.post("/healthz").status_code == 405


def test_it_asks_the_workers_once_per_round_however_many_ask_it(client, stack_on, monkeypatch):
    pings = []
    monkeypatch.setattr(health.celery_app.control, "ping", lambda **kw: pings.append(kw) or [])
    for _ in range(20):
        assert client.get("/healthz").status_code == 503
    assert len(pings) == 1
