"""apikeys.unknown_keys on the test's own clock: each client network's budget of unknown keys
in a window, given back by found keys, whole again when the window ends."""

from __future__ import annotations

import logging

import pytest

from apikeys import unknown_keys
from apikeys.unknown_keys import UnknownKeyBudgets, client_network


@pytest.fixture
def clock(monkeypatch):
    now = [1_000.0]
    monkeypatch.setattr(unknown_keys, "monotonic", lambda: now[0])
    return now


def test_an_address_has_its_budget_per_window(clock):
    budgets = UnknownKeyBudgets()
    assert [budgets.spend("192.0.2.1", 3) for _ in range(4)] == [True, True, True, False]
    assert budgets.spend("192.0.2.2", 3)  # another address: a budget of its own
    assert budgets.retry_after() == unknown_keys.WINDOW_SECONDS
    clock[0] += unknown_keys.WINDOW_SECONDS
    assert budgets.spend("192.0.2.1", 3)  # a new window: whole again


def test_a_found_key_gives_its_lookup_back(clock):
    budgets = UnknownKeyBudgets()
    for _ in range(100):
        assert budgets.spend("192.0.2.1", 3)
        budgets.give_back("192.0.2.1")
    budgets.give_back("192.0.2.9")  # nothing spent there: nothing to give back
    assert [budgets.spend("192.0.2.1", 3) for _ in range(4)] == [True, True, True, False]


def test_too_many_addresses_start_the_window_over(clock, monkeypatch):
    monkeypatch.setattr(unknown_keys, "MAX_ADDRESSES", 4)
    budgets = UnknownKeyBudgets()
    assert budgets.spend("192.0.2.1", 1) and not budgets.spend("192.0.2.1", 1)
    for n in range(2, 5):
        assert budgets.spend(f"192.0.2.{n}", 1)
    assert budgets.spend("192.0.2.5", 1)  # a fifth address: the map is emptied, not grown
    assert budgets.spend("192.0.2.1", 1)


def test_running_out_is_logged_once_a_window(clock, caplog):
    budgets = UnknownKeyBudgets()
    with caplog.at_level(logging.WARNING, logger="apikeys.unknown_keys"):
        for _ in range(5):
            budgets.spend("192.0.2.1", 1)
        clock[0] += unknown_keys.WINDOW_SECONDS
        for _ in range(5):
            budgets.spend("192.0.2.1", 1)
    assert [r.getMessage().split()[1] for r in caplog.records] == ["192.0.2.1", "192.0.2.1"]


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::ffff", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.1", "192.0.2.1"),  # IPv4 on a dual-stack socket
        ("", ""),
        ("not:an address", "not:an address"),
    ],
)
def test_a_budget_is_kept_per_ipv4_address_and_ipv6_64(address, network):
    assert client_network(address) == network
