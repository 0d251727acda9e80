"""Where a webhook may go, and the one way Tollgate connects there (SSRF).

An endpoint's URL is checked when it is registered and again at every delivery: HTTPS (plain
HTTP only with DEBUG), no credentials in it, and every address its host resolves to must be a
public one (not private, loopback, link-local, shared, reserved or multicast; IPv4-mapped,
6to4, Teredo and NAT64 IPv6 addresses are judged by the IPv4 address inside). The delivery
connects to the address that was checked, not to the name again, so a DNS answer that changes
in between (rebinding) cannot send it elsewhere; TLS still checks the certificate against the
name (SNI), and the Host header carries the name. Redirects are never followed.

`WEBHOOKS_ALLOW_PRIVATE_TARGETS` lets an operator allow private addresses (a receiver on the
same network, or a test's loopback receiver).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeTarget(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query


def parse(url: str) -> Target:
    """The URL's parts, or UnsafeTarget saying why it may not be an endpoint."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeTarget("This is not a valid URL.", "invalid_url") from exc
    allowed_schemes = {"https", "http"} if settings.DEBUG else {"https"}
    if parts.scheme not in allowed_schemes:
        raise UnsafeTarget("The endpoint must be an https:// URL.", "https_required")
    if not parts.hostname:
        raise UnsafeTarget("The URL has no host.", "invalid_url")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("The URL may not carry a user name or password.", "invalid_url")
    if parts.fragment:
        raise UnsafeTarget("The URL may not have a #fragment.", "invalid_url")
    default_port = 443 if parts.scheme == "https" else 80
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port or default_port, path)


# A NAT64 gateway turns an address in its prefix into the IPv4 address inside, which may be a
# private one. In RFC 6052's well-known prefix it is the last 32 bits; where it lies in RFC
# 8215's local-use prefix depends on the network's own prefix length, so those are refused.
NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
        if address in NAT64_WELL_KNOWN:
            return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address


def is_public(address: IPAddress) -> bool:
    if address in NAT64_LOCAL_USE:
        return False
    inner = embedded_ipv4(address)
    return all(a.is_global and not a.is_multicast for a in {address, inner})


def resolve(target: Target) -> list[str]:
    """The addresses to connect to, in order. Every address the name has must be allowed: an
    attacker's name answering with one public and one private address must not get through."""
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeTarget(f"{target.host} does not resolve.", "unresolvable_host") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeTarget(f"{target.host} does not resolve.", "unresolvable_host")
    if not settings.WEBHOOKS_ALLOW_PRIVATE_TARGETS:
        for address in addresses:
            if not is_public(address):
                raise UnsafeTarget(
                    f"{target.host} resolves to {address}, which is not a public address.",
                    "private_address",
                )
    return list(dict.fromkeys(str(address) for address in addresses))


def check(url: str) -> Target:
    """Registration's check: the same rules the delivery applies."""
    target = parse(url)
    resolve(target)
    return target


def connect_to_any(addresses: list[str], port: int, timeout: float | None) -> socket.socket:
    """The first of the checked addresses that answers (IPv6 and IPv4 of one name)."""
    error: OSError = OSError("no address to connect to")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            error = exc
    raise error


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to addresses already checked, with SNI and certificate checks for the name."""

    def __init__(self, target: Target, addresses: list[str], timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=tls_context())
        self.addresses = addresses

    def connect(self) -> None:
        sock = connect_to_any(self.addresses, self.port, self.timeout)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]  # private in stubs
            sock, server_hostname=self.host
        )


class PinnedHTTPConnection(http.client.HTTPConnection):
    """Plain HTTP (DEBUG only) to addresses already checked."""

    def __init__(self, target: Target, addresses: list[str], timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = connect_to_any(self.addresses, self.port, self.timeout)


def tls_context() -> ssl.SSLContext:
    # The system's trust store (OpenSSL honours SSL_CERT_FILE), TLS 1.2 at least.
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, Target]:
    target = parse(url)
    addresses = resolve(target)
    if target.scheme == "https":
        return PinnedHTTPSConnection(target, addresses, timeout), target
    return PinnedHTTPConnection(target, addresses, timeout), target
