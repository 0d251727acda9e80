"""The portal's /healthz status page, asked as a probe asks it: of the WSGI entry, by IP address,
so before Django's middleware (no ALLOWED_HOSTS entry, no redirect to HTTPS)."""

from __future__ import annotations

import pytest

from portal import health
from tests.helpers import celery_app_on, celery_worker
from tests.portal.probing import call, database_unreachable, portal_app

pytestmark = pytest.mark.django_db(transaction=True)


def healthz(method: str = "GET", host: str = "10.1.2.3:8000"):
    return call(portal_app, "/healthz", method=method, host=host)


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


def test_it_is_ok_when_everything_is_up(stack_on):
    with celery_worker(env={"REDIS_URL": stack_on.url}):
        status, body = None, None
        for _ in range(40):  # the worker needs a moment to connect
            health.status.forget()  # as if the cached round had expired
            status, _, body = healthz()
            if status == 200:
                break
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["down"] == []
    assert body["checks"]["worker"] == {"ok": True}


def test_it_names_the_worker_when_none_runs(stack_on):
    status, headers, body = healthz()
    assert status == 503
    assert body["down"] == ["worker"]
    assert headers["Cache-Control"] == "no-store"


def test_it_answers_a_probe_by_ip_address_before_the_middleware(stack_on, settings):
    settings.ALLOWED_HOSTS = ["portal.example.com"]  # the Host below is not among them
    for host in ("10.1.2.3:8000", "[2001:db8::7]:8000"):
        status, _, body = healthz(host=host)
        assert status == 503 and body["down"] == ["worker"]  # an answer, not a 400
    status, _, _ = healthz(method="HEAD")
    assert status == 503


def test_it_names_redis_when_it_stops(stack_on):
    stack_on.stop()
    status, _, body = healthz()
    assert status == 503
    assert body["down"] == ["broker", "redis", "worker"]
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["database"] == {"ok": True}


def test_it_names_the_database_when_it_is_unreachable(stack_on):
    with database_unreachable():
        status, _, body = healthz()
    assert status == 503
    assert "database" in body["down"]


def test_it_refuses_post():
    status, headers, body = healthz(method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert body["code"] == "method_not_allowed"


def test_it_asks_the_workers_once_per_round_however_many_ask_it(stack_on, monkeypatch):
    pings = []
    monkeypatch.setattr(health.celery_app.control, "ping", lambda **kw: pings.append(kw) or [])
    for _ in range(20):
        assert healthz()[0] == 503
    assert len(pings) == 1


def test_the_status_link_points_at_it(client):
    assert b'href="/healthz"' in client.get("/").content


def test_django_routes_it_to_the_same_answer(client, stack_on):
    """Where no portal/wsgi.py stands in front (the ASGI entry, the test client)."""
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["down"] == ["worker"]
    assert client.post("/healthz").status_code == 405
