"""Where deliveries may go (SSRF), checked at registration and again at delivery time."""

from __future__ import annotations

import socket

import pytest
from django.utils import timezone

from webhooks import delivery, targets
from webhooks.models import Delivery, Endpoint, Event

pytestmark = pytest.mark.django_db(transaction=True)


def resolving_to(monkeypatch, *answers: str):
    """Make every name resolve to these addresses, counting the lookups."""
    lookups = []

    def fake_getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers
        ]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    return lookups


PRIVATE = [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1",
    "2002:7f00:1::", "2001:0:4136:e378:8000:63bf:80ff:fffe",
    "64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::a00:7", "64:ff9b:1::a00:7",
    "64:ff9b:1:ffff::808:808",
]  # fmt: skip


@pytest.mark.parametrize("address", PRIVATE)
def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch, address):
    resolving_to(monkeypatch, address)
    with pytest.raises(targets.UnsafeTarget) as refused:
        targets.check("https://hooks.example.com/x")
    assert refused.value.code == "private_address"


def test_one_private_address_among_public_ones_is_enough_to_refuse(monkeypatch):
    resolving_to(monkeypatch, "93.184.216.34", "10.0.0.7")
    with pytest.raises(targets.UnsafeTarget):
        targets.check("https://hooks.example.com/x")


def test_a_public_address_passes(monkeypatch):
    resolving_to(monkeypatch, "93.184.216.34", "2606:2800:220:1::1")
    assert targets.check("https://hooks.example.com:8443/x?y=1").path == "/x?y=1"


def test_a_nat64_address_of_a_public_one_passes(monkeypatch):
    """An IPv6-only network reaches IPv4 receivers through the well-known NAT64 prefix."""
    resolving_to(monkeypatch, "64:ff9b::5db8:d822")  # 93.184.216.34
    assert targets.check("https://hooks.example.com/x").host == "hooks.example.com"


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://hooks.example.com/x", "https_required"),
        ("ftp://hooks.example.com/x", "https_required"),
        ("https://user:pw@hooks.example.com/x", "invalid_url"),
        ("https:///x", "invalid_url"),
        ("https://hooks.example.com:99999/x", "invalid_url"),
        ("https://hooks.example.com/x#frag", "invalid_url"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused_in_production(settings, url, code, monkeypatch):
    settings.DEBUG = False
    resolving_to(monkeypatch, "93.184.216.34")
    with pytest.raises(targets.UnsafeTarget) as refused:
        targets.check(url)
    assert refused.value.code == code


def test_registration_refuses_a_private_endpoint_with_a_readable_error(api, alice, team):
    api.force_login(alice)
    response = api.post(
        f"/api/v1/accounts/{team.slug}/webhooks/",
        {"url": "https://127.0.0.1/hooks", "event_types": ["key.created"]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "not a public address" in response.json()["errors"]["url"][0]
    assert not Endpoint.objects.exists()


def test_the_page_refuses_it_too(client, alice, team):
    client.force_login(alice)
    response = client.post(
        f"/a/{team.slug}/webhooks/",
        {"url": "https://169.254.169.254/latest", "event_types": ["key.created"]},
    )
    assert response.status_code == 400
    assert b"not a public address" in response.content
    assert not Endpoint.objects.exists()


def a_delivery(team, url: str) -> Delivery:
    endpoint = Endpoint.objects.create(account=team, url=url, event_types=["key.created"])
    event = Event.objects.create(account=team, type="key.created", occurrence="x", data={})
    return Delivery.objects.create(endpoint=endpoint, event=event, next_attempt_at=timezone.now())


def test_a_name_that_turns_private_after_registration_is_refused_at_delivery(team, monkeypatch):
    """DNS rebinding: public when registered, loopback when sent."""
    resolving_to(monkeypatch, "93.184.216.34")
    targets.check("https://hooks.example.com/x")
    sent = a_delivery(team, "https://hooks.example.com/x")
    resolving_to(monkeypatch, "127.0.0.1")
    assert delivery.attempt(sent.pk).startswith("pending")
    sent.refresh_from_db()
    assert sent.response_status is None and sent.error.startswith("private_address")


def test_the_delivery_connects_to_the_address_it_checked_and_keeps_the_name(
    team, receiver, monkeypatch
):
    """One lookup per attempt, the connection to that answer (no second lookup a rebinding
    DNS server could answer differently), and TLS and Host for the name."""
    lookups = resolving_to(monkeypatch, "127.0.0.1")
    sent = a_delivery(team, receiver.url(host="hooks.example.com"))
    assert delivery.attempt(sent.pk) == "succeeded (200)"
    # The name once; then the socket module "resolves" the checked literal, with no DNS.
    assert lookups == ["hooks.example.com", "127.0.0.1"]
    [received] = receiver.requests
    assert received.sni == "hooks.example.com"
    assert received.headers["host"] == f"hooks.example.com:{receiver.port}"


def test_a_receiver_with_a_certificate_we_do_not_trust_fails(team, receiver, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    sent = a_delivery(team, receiver.url())
    delivery.attempt(sent.pk)
    sent.refresh_from_db()
    assert sent.status == "pending" and "CERTIFICATE_VERIFY_FAILED" in sent.error
    assert receiver.requests == []


def test_redirects_are_not_followed(team, receiver):
    receiver.respond = lambda received: 307
    sent = a_delivery(team, receiver.url())
    delivery.attempt(sent.pk)
    sent.refresh_from_db()
    assert sent.response_status == 307 and sent.status == "pending"  # a failure, retried
    assert len(receiver.requests) == 1
