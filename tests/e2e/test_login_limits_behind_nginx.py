"""Failed-login limits behind the bundled nginx count per client, not per nginx.

Each client has an address of its own on loopback (127.0.0.2, 127.0.0.3, ...), as two people on
two machines would, and goes through the real nginx to the real portal.
"""

from __future__ import annotations

import re

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.gateway.stack import GatewayStack
from tests.gateway.support import make_product

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOO_MANY = "Too many failed login attempts. Try again later."
IP_LIMIT = 10  # allauth's default: 10 failed logins a minute per address


class FromAddress(HTTPAdapter):
    """Connections that leave from one local address."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def fail_login(session: requests.Session, base: str, email: str, **headers: str) -> str:
    """One failed login through the real form (CSRF included); returns the page."""
    page = session.get(f"{base}/accounts/login/", headers=headers).text
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert found, page
    token = found.group(1)
    answer = session.post(
        f"{base}/accounts/login/",
        data={"login": email, "password": "wrong", "csrfmiddlewaretoken": token},
        headers=headers,
    )
    assert answer.status_code == 200, answer.status_code
    return answer.text


@pytest.fixture
def stack(tmp_path, redis_db):  # redis_db: allauth's counters start at zero
    make_product()  # nginx's config needs an API to route
    running = GatewayStack(tmp_path).start()
    yield running
    running.stop()


def test_one_clients_failures_lock_out_only_that_client(stack):
    mallory, alice = client_at("127.0.0.2"), client_at("127.0.0.3")
    for attempt in range(IP_LIMIT):
        assert TOO_MANY not in fail_login(mallory, stack.url, f"guess{attempt}@example.com")
    assert TOO_MANY in fail_login(mallory, stack.url, "one-more@example.com")
    # Another address, through the same nginx, still gets its own tries.
    assert TOO_MANY not in fail_login(alice, stack.url, "alice@example.com")


def test_a_client_on_the_portals_own_port_cannot_forge_its_address(stack):
    direct = f"http://127.0.0.1:{stack.portal_port}"
    mallory, alice = client_at("127.0.0.4"), client_at("127.0.0.5")
    for attempt in range(IP_LIMIT):
        # A new address each time, and a guess at nginx's proof.
        forged = {"X-Forwarded-For": f"203.0.113.{attempt}", "X-Real-IP": f"203.0.113.{attempt}",
                  "X-Gateway-Secret": "guess"}  # fmt: skip
        assert TOO_MANY not in fail_login(mallory, direct, f"guess{attempt}@example.com", **forged)
    assert TOO_MANY in fail_login(mallory, direct, "again@example.com",
                                  **{"X-Forwarded-For": "198.51.100.1"})  # fmt: skip
    # Through nginx, a spoofed X-Forwarded-For is kept but never read: nginx's entry counts.
    for attempt in range(IP_LIMIT):
        spoof = {"X-Forwarded-For": f"198.51.100.{attempt}"}
        assert TOO_MANY not in fail_login(alice, stack.url, f"a{attempt}@example.com", **spoof)
    assert TOO_MANY in fail_login(alice, stack.url, "a-last@example.com",
                                  **{"X-Forwarded-For": "198.51.100.99"})  # fmt: skip
