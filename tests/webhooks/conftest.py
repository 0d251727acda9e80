from __future__ import annotations

import pytest

from portal import throttle
from portal.redis_client import get_redis
from tests.webhooks.receiver import Receiver, make_ca_and_cert


@pytest.fixture(autouse=True)
def fresh_send_allowances():
    """Manual-send allowances (portal.throttle) live in Redis, which outlives a test."""

    def clear() -> None:
        client = get_redis()
        for key in client.scan_iter(match=throttle.KEY_PREFIX + "webhook-sends:*"):
            client.delete(key)

    clear()
    yield
    clear()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return make_ca_and_cert(tmp_path_factory.mktemp("webhook-ca"))


@pytest.fixture
def trust_test_ca(tls_files, monkeypatch, settings):
    """Deliveries trust the test's CA (OpenSSL's SSL_CERT_FILE), and may reach loopback: the
    operator setting a receiver on the same host needs."""
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_files[0]))
    settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS = True
    return tls_files[0]


@pytest.fixture
def receiver(tls_files, trust_test_ca):
    _, cert, key = tls_files
    server = Receiver(cert, key)
    server.start()
    yield server
    server.stop()
