"""The client's address when the bundled nginx (and maybe more proxies) stands in front.

Behind nginx every request reaches the portal from nginx's own address, so a per-address limit
(allauth's failed-login limit) would be one limit shared by everybody. nginx therefore appends
the address it saw to ``X-Forwarded-For`` and proves it is our nginx with ``X-Gateway-Secret``
(``GATEWAY_SECRET``, as it does towards the auth server). X-Forwarded-For is read only on a
request carrying that proof: the portal's own port stays reachable (in ``make run``, and
wherever no firewall hides it), and a client there could otherwise name a new address with
every attempt. See docs/health-and-proxies.md.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse


def came_through_our_proxy(meta: Mapping[str, Any]) -> bool:
    sent = meta.get("HTTP_X_GATEWAY_SECRET")
    if not isinstance(sent, str):
        return False
    return hmac.compare_digest(sent.encode(), settings.GATEWAY_SECRET.encode())


def client_address(meta: Mapping[str, Any]) -> str:
    """The address of whoever sent the request, as the trusted proxies saw it."""
    peer = str(meta.get("REMOTE_ADDR", ""))
    count = settings.TRUSTED_PROXY_COUNT
    if count == 0 or not came_through_our_proxy(meta):
        return peer
    hops = [hop.strip() for hop in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    # Each trusted proxy appended one entry, so the client is `count` from the right; what lies
    # further left is whatever the client chose to send. With fewer entries the request skipped
    # the outer proxies, and the first entry is then one a trusted proxy wrote as well.
    chosen = hops[-count] if len(hops) >= count else hops[0]
    try:
        return str(ipaddress.ip_address(chosen))
    except ValueError:
        return peer


class ClientAddressMiddleware:
    """Puts the client's address in ``REMOTE_ADDR``, for allauth's limits and the audit log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.META["REMOTE_ADDR"] = client_address(request.META)
        # The proof is nginx's business: no view, log line or error report sees it.
        request.META.pop("HTTP_X_GATEWAY_SECRET", None)
        return self.get_response(request)
