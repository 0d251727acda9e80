from __future__ import annotations

import itertools

import pytest
from django.conf import settings

from accounts.models import Account, Membership, User
from accounts.roles import Role
from portal import embedded_redis
from portal.celery import app as celery_app
from portal.redis_client import get_redis
from tests.helpers import PrivateRedis

_emails = itertools.count(1)


@pytest.fixture(scope="session", autouse=True)
def embedded_redis_if_default():
    """With no REDIS_URL the suite runs on the embedded default, like `make run`."""
    if settings.REDIS_IS_EMBEDDED:
        embedded_redis.ensure_running(settings.EMBEDDED_REDIS_SOCKET)


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


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium: never a downloaded browser (see field-notes)."""
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def signed_in_page(page, live_server, client):
    """A Playwright page whose browser carries the session of whoever `client` logged in."""

    def sign_in(user):
        client.force_login(user)
        page.context.add_cookies(
            [
                {
                    "name": "sessionid",
                    "value": client.cookies["sessionid"].value,
                    "url": live_server.url,
                }
            ]
        )
        return page

    return sign_in
