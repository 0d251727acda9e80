from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts.models import Membership
from accounts.roles import Role
from portal import throttle
from portal.redis_client import get_redis


def clear_allauth_rate_limits() -> None:
    """allauth keeps its rate-limit history in the cache (Redis), which outlives a test."""
    client = cache._cache.get_client()  # type: ignore[attr-defined]
    for key in client.scan_iter(match="*allauth:rl:*"):
        client.delete(key)


def clear_throttles() -> None:
    """Invitation allowances (portal.throttle) live in Redis too."""
    client = get_redis()
    for key in client.scan_iter(match=throttle.KEY_PREFIX + "*"):
        client.delete(key)


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    clear_allauth_rate_limits()
    clear_throttles()
    yield
    clear_allauth_rate_limits()
    clear_throttles()


@pytest.fixture
def member_with_role(user_factory, team):
    def make(role: Role) -> Membership:
        return Membership.objects.create(account=team, user=user_factory(), role=role)

    return make


@pytest.fixture
def sign_in(client):
    """Signed in and recently re-authenticated, as closing an account or deleting a profile
    requires (force_login alone is not a recent authentication)."""

    def sign_in(user, password="password"):
        client.force_login(user)
        response = client.post("/accounts/reauthenticate/", {"password": password})
        assert response.status_code == 302

    return sign_in
