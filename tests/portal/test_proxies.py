"""Which address a request comes from: X-Forwarded-For counts only with nginx's proof."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from portal.proxies import ClientAddressMiddleware, client_address


@pytest.fixture
def proof(settings):
    return settings.GATEWAY_SECRET


def meta(peer="127.0.0.1", forwarded=None, secret=None):
    found = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        found["HTTP_X_FORWARDED_FOR"] = forwarded
    if secret is not None:
        found["HTTP_X_GATEWAY_SECRET"] = secret
    return found


def test_it_takes_the_entry_nginx_appended(proof):
    assert client_address(meta(forwarded="203.0.113.9", secret=proof)) == "203.0.113.9"
    # Whatever the client put in front of it is ignored.
    assert client_address(meta(forwarded="1.2.3.4, 203.0.113.9", secret=proof)) == "203.0.113.9"
    assert client_address(meta(forwarded="2001:db8::1", secret=proof)) == "2001:db8::1"


@pytest.mark.parametrize("secret", [None, "", "wrong", "x" * 64])
def test_without_the_proof_it_is_the_peer(secret):
    assert client_address(meta(peer="127.0.0.5", forwarded="203.0.113.9", secret=secret)) == (
        "127.0.0.5"
    )


@pytest.mark.parametrize("forwarded", [None, "", "not-an-ip", "203.0.113.9:443", "1.2.3.4, ,"])
def test_a_malformed_entry_falls_back_to_the_peer(proof, forwarded):
    assert client_address(meta(peer="127.0.0.5", forwarded=forwarded, secret=proof)) == "127.0.0.5"


def test_two_trusted_proxies_take_the_second_entry_from_the_right(proof, settings):
    settings.TRUSTED_PROXY_COUNT = 2  # a load balancer in front of nginx
    chain = "1.2.3.4, 198.51.100.7, 10.0.0.2"  # spoof, client (by the LB), LB (by nginx)
    assert client_address(meta(forwarded=chain, secret=proof)) == "198.51.100.7"
    # Straight to nginx, around the load balancer: nginx's own entry is the client.
    assert client_address(meta(forwarded="198.51.100.8", secret=proof)) == "198.51.100.8"


def test_zero_trusted_proxies_never_reads_the_header(proof, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(meta(peer="127.0.0.5", forwarded="1.2.3.4", secret=proof)) == "127.0.0.5"


def test_the_middleware_sets_remote_addr_and_hides_the_proof(proof):
    seen = {}

    def view(request):
        seen.update(request.META)
        return HttpResponse()

    request = RequestFactory().get(
        "/", REMOTE_ADDR="127.0.0.1", headers={"X-Forwarded-For": "203.0.113.9",
                                               "X-Gateway-Secret": proof},
    )  # fmt: skip
    ClientAddressMiddleware(view)(request)
    assert seen["REMOTE_ADDR"] == "203.0.113.9"
    assert "HTTP_X_GATEWAY_SECRET" not in seen
    assert proof not in repr(seen)
