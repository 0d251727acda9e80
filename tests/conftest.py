from __future__ import annotations

import itertools

import pytest
from django.conf import settings
from django.db import connections

from accounts.models import Account, Membership, User
from accounts.roles import Role
from portal import embedded_redis
from portal.celery import app as celery_app
from portal.redis_client import get_redis
from tests.helpers import PrivateRedis

_emails = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def embedded_redis_if_default():
    """With no REDIS_URL the suite runs on the embedded default, like `make run`.

    A server the session started is stopped at its end; one that was already up stays.
    """
    socket_path = settings.EMBEDDED_REDIS_SOCKET
    started = settings.REDIS_IS_EMBEDDED and embedded_redis.ensure_running(socket_path)
    yield
    if started:
        embedded_redis.shut_down(socket_path)


@pytest.fixture(autouse=True)
def fast_defaults(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    celery_app.conf.task_always_eager = True  # unit tests only; see tests/portal/test_celery.py
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def redis_db():
    """The configured Redis, emptied before the test. CI points each run at its own database."""
    client = get_redis()
    client.flushdb()
    return client


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api():
    """A REST API client (DRF's): sign in with force_login, or send a token with credentials()."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def user_factory(db):
    def make(email: str | None = None, password: str = "password", **fields) -> User:
        return User.objects.create_user(
            email or f"person{next(_emails)}@example.com", password, **fields
        )

    return make


@pytest.fixture
def alice(user_factory) -> User:
    """The owner of the `team` account."""
    return user_factory("alice@example.com", first_name="Alice")


@pytest.fixture
def team(alice) -> Account:
    return Account.objects.create_with_owner("Alice's team", alice)


@pytest.fixture
def bob(user_factory, team) -> User:
    """A developer in Alice's team."""
    user = user_factory("bob@example.com", first_name="Bob")
    Membership.objects.create(account=team, user=user, role=Role.DEVELOPER)
    return user


@pytest.fixture
def charlie(user_factory) -> User:
    """An outsider: in no account of Alice's; expects 404 everywhere there."""
    return user_factory("charlie@example.com", first_name="Charlie")


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium through Playwright, for one test (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    # Playwright runs an event loop in this thread while the test uses the ORM. Scoped to the
    # test: set at import time it would leak into the subprocesses of later tests.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        yield chromium
        # The test body's ORM connections belong to the context Playwright's loop runs beside:
        # closed here, inside it, or they outlive the session and the test database cannot be
        # dropped at its end ("being accessed by other users").
        connections.close_all()
        chromium.close()
    connections.close_all()  # and this context's own


@pytest.fixture
def page(browser):
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture
def signed_in_page(browser, live_server, client):
    """sign_in(user) -> a Playwright page carrying that user's session."""

    def sign_in(user):
        client.force_login(user)
        context = browser.new_context(base_url=live_server.url)
        cookie = client.cookies["sessionid"].value
        context.add_cookies([{"name": "sessionid", "value": cookie, "url": live_server.url}])
        return context.new_page()

    return sign_in
