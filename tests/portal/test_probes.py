"""/livez and /readyz, answered the same way by the portal and the auth server."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from portal import health
from tests.portal.probing import auth_server_app, call, database_unreachable, portal_app

pytestmark = pytest.mark.django_db(transaction=True)

SERVERS = [pytest.param(portal_app, id="portal"), pytest.param(auth_server_app, id="auth")]


@pytest.fixture(autouse=True)
def fresh_rounds():
    health.readiness.forget()
    yield
    health.readiness.forget()


@pytest.fixture
def nothing_answers(monkeypatch):
    """Every dependency check fails loudly if it is even asked."""

    def asked():
        raise AssertionError("a dependency was asked")

    for name in ("check_database", "check_redis", "check_broker", "check_worker"):
        monkeypatch.setattr(health, name, asked)


@pytest.mark.parametrize("app", SERVERS)
def test_livez_answers_without_asking_any_dependency(app, nothing_answers):
    status, headers, body = call(app, "/livez")
    assert (status, body) == (200, {"status": "ok"})
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("app", SERVERS)
def test_readyz_is_ok_when_database_redis_and_broker_answer(app, redis_db):
    status, _, body = call(app, "/readyz")
    assert status == 200, body
    assert body == {"status": "ok", "down": [], "checks": {"database": {"ok": True},
                    "redis": {"ok": True}, "broker": {"ok": True}}}  # fmt: skip


@pytest.mark.parametrize("app", SERVERS)
def test_readyz_names_what_is_down(app, redis_db):
    with database_unreachable():
        status, _, body = call(app, "/readyz")
    assert status == 503
    assert body["down"] == ["database"]
    assert body["checks"]["database"]["ok"] is False


@pytest.mark.parametrize("app", SERVERS)
def test_probes_refuse_other_methods(app, nothing_answers):
    status, headers, body = call(app, "/readyz", method="POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    assert body["code"] == "method_not_allowed"


def test_the_auth_server_serves_nothing_of_the_portal():
    for path in ("/", "/healthz", "/pricing/", "/accounts/login/", "/admin/", "/gateway/auth/"):
        environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "HTTP_HOST": "127.0.0.1"}
        statuses = []
        auth_server_app()(environ, lambda status, headers: statuses.append(status))
        assert statuses == ["404 Not Found"], path


def test_the_portal_no_longer_decides(client):
    # nginx asks the auth server; on the portal the path is just an unknown page.
    response = client.get("/gateway/auth", headers={"X-Gateway-Secret": "whatever"})
    assert response.status_code == 404


def test_a_flood_of_probes_runs_one_round_of_checks(monkeypatch, redis_db):
    rounds = []
    real = health.readiness_checks
    monkeypatch.setattr(health.readiness, "compute", lambda: rounds.append(1) or real())
    answers = []

    def probe():
        answers.append(call(portal_app, "/readyz")[0])
        connections.close_all()  # this thread's, so the test database can be dropped

    threads = [threading.Thread(target=probe) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 32
    assert rounds == [1]


def test_while_one_thread_refreshes_the_others_answer_from_the_last_round():
    release, refreshing = threading.Event(), threading.Event()
    rounds = iter([1, 2])

    def compute():
        value = next(rounds)
        if value == 2:
            refreshing.set()
            release.wait(timeout=10)
        return value

    cached = health.Cached(compute, seconds=0)  # always stale: every get wants a new round
    assert cached.get() == 1
    refreshed = []
    refresher = threading.Thread(target=lambda: refreshed.append(cached.get()))
    refresher.start()
    assert refreshing.wait(timeout=10)
    assert cached.get() == 1  # not blocked behind the slow round, and no round of its own
    release.set()
    refresher.join()
    assert refreshed == [2]


def test_a_round_is_kept_for_its_seconds():
    rounds = iter(range(1, 10))
    cached = health.Cached(lambda: next(rounds), seconds=3600)
    assert [cached.get() for _ in range(5)] == [1] * 5
    cached.forget()
    assert cached.get() == 2
