"""How many keys no cache knows each client address may have the database look up.

The key's checksum is a public CRC32 (docs/api-keys.md), so anyone can make well-formed keys,
and each new one misses every cache and costs a database read; negative caching cannot help
against keys never sent twice. So each auth process counts, per client address, its misses that
went to the database in a fixed window of WINDOW_SECONDS. A miss is counted before it is read,
so one address cannot park more keys than its budget at once (others' first loads are never
queued behind a thousand of its forgeries), and given back once the key is found: only unknown
keys use a budget up, and a client bringing any number of real keys is never refused.
Beyond GATEWAY_UNKNOWN_KEYS_PER_ADDRESS, the address's further misses are refused (the decision
answers rate_limited, 429 through nginx) without a query, until the window ends. Its cached
keys are served as before: a cache hit never asks for a budget.

An address is an IPv4 address or an IPv6 /64: a subscriber's usual allocation, all of whose
2^64 addresses one host can use.

What this does not stop: an attacker with many addresses gets a budget for each. What bounds the
database then is that each auth process reads one batch of first loads at a time
(core.first_loads). Clients behind one NAT share a budget, and so with a forger among them, their
keys not cached yet (new, or idle past the TTL) wait for the window's end.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from time import monotonic

log = logging.getLogger(__name__)

WINDOW_SECONDS = 10.0
# Addresses counted in one window at most: an attacker with more addresses than this could
# otherwise grow the map without end. Past it the window starts over: each of its addresses had
# a budget already, and what bounds the database then is the one batch at a time.
MAX_ADDRESSES = 65_536


class TooManyUnknownKeys(Exception):
    """This client address has had its share of unknown keys looked up for now."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many unknown keys; retry after {retry_after:.1f} s")
        self.retry_after = retry_after


def client_network(address: str) -> str:
    """What a budget is kept for: an IPv6 address's /64, any other address as it is."""
    if ":" not in address:
        return address  # IPv4 (nginx's $remote_addr), or nothing: no parsing on that path
    try:
        parsed = ipaddress.IPv6Address(address)
    except ValueError:
        return address
    if parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)  # a dual-stack socket's IPv4 client
    return str(ipaddress.IPv6Network((parsed, 64), strict=False))


class UnknownKeyBudgets:
    """Per client network, the misses it has had looked up in this window (threads and the
    loop both decide, so every change is under a lock; only misses come here)."""

    def __init__(self) -> None:
        self._spent: dict[str, int] = {}
        self._reported: set[str] = set()  # refused in this window, and logged once
        self._window_ends = 0.0
        self._lock = threading.Lock()

    def spend(self, address: str, allowed: int) -> bool:
        """Take one lookup from the address's budget: False when it has none left."""
        network = client_network(address)
        with self._lock:
            now = monotonic()
            if now >= self._window_ends or self._crowded_by(network):
                self._start_window(now)
            spent = self._spent.get(network, 0)
            if spent >= allowed:
                self._report(network, allowed)
                return False
            self._spent[network] = spent + 1
            return True

    def give_back(self, address: str) -> None:
        """The key was found (or its read failed): its lookup did not cost the address."""
        network = client_network(address)
        with self._lock:
            spent = self._spent.get(network, 0)
            if spent > 1:
                self._spent[network] = spent - 1
            elif spent == 1:
                del self._spent[network]  # a client of real keys leaves nothing behind

    def retry_after(self) -> float:
        """Seconds until the window ends and every budget is whole again."""
        return max(0.0, self._window_ends - monotonic())

    def clear(self) -> None:
        with self._lock:
            self._window_ends = 0.0

    def _crowded_by(self, network: str) -> bool:
        return network not in self._spent and len(self._spent) >= MAX_ADDRESSES

    def _start_window(self, now: float) -> None:
        self._spent.clear()
        self._reported.clear()
        self._window_ends = now + WINDOW_SECONDS

    def _report(self, network: str, allowed: int) -> None:
        if network in self._reported:
            return
        self._reported.add(network)
        log.warning("gateway: %s had %d unknown API keys looked up within %g s; its cache "
                    "misses are refused until the window ends", network, allowed,
                    WINDOW_SECONDS)  # fmt: skip
