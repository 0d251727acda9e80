"""Sign-up answers alike, in work and in time, whether or not the address has an account: the
timing must not tell an attacker who is a customer. Measured with real PBKDF2 hashing."""

from __future__ import annotations

import statistics
import time
import uuid

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import PBKDF2PasswordHasher

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-Passphrase-9"


class CountingHasher(PBKDF2PasswordHasher):
    """Django's default hasher, at its real cost, counting the passwords it hashes."""

    calls = 0

    def encode(self, password, salt, iterations=None):
        type(self).calls += 1
        return super().encode(password, salt, iterations)


@pytest.fixture(autouse=True)
def real_hashing(settings):
    settings.PASSWORD_HASHERS = [f"{__name__}.CountingHasher"]
    settings.ACCOUNT_RATE_LIMITS = False  # many sign-ups from one address, on purpose


@pytest.fixture
def existing(user_factory):
    user = user_factory("taken@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user.email


def sign_up(client, email):
    """The hasher calls and the seconds one sign-up takes."""
    before = CountingHasher.calls
    started = time.perf_counter()
    response = client.post(
        "/accounts/signup/", {"email": email, "password1": PASSWORD, "password2": PASSWORD}
    )
    elapsed = time.perf_counter() - started
    assert response.status_code == 302
    return CountingHasher.calls - before, elapsed


def new_address():
    return f"new-{uuid.uuid4().hex[:10]}@example.com"


def test_both_paths_hash_the_password_once(client, existing):
    hashed_new, _ = sign_up(client, new_address())
    hashed_existing, _ = sign_up(client, existing)
    assert hashed_new == hashed_existing == 1


def test_the_two_timings_are_alike(client, existing):
    """Interleaved samples, medians compared: robust to a loaded machine. Today the existing
    address answers ~30x faster; alike means within a factor of 2 either way."""
    new_times, existing_times = [], []
    for _ in range(7):
        new_times.append(sign_up(client, new_address())[1])
        existing_times.append(sign_up(client, existing)[1])
    ratio = statistics.median(existing_times) / statistics.median(new_times)
    assert 0.5 < ratio < 2, (new_times, existing_times)
