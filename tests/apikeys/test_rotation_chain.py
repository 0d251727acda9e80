"""Rotating along a chain of successors keeps one retiring key per chain, not one per rotation."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from accounts.models import AuditEvent
from apikeys import records
from apikeys.models import ApiKey, max_keys

pytestmark = pytest.mark.django_db
WEEK = timedelta(days=7)


def working_live_keys(team):
    return ApiKey.objects.active().filter(account=team, environment="live").count()


def test_a_chain_of_rotations_keeps_at_most_the_cap_plus_one_retiring_per_key(
    alice, team, issue_key, django_capture_on_commit_callbacks
):
    cap = max_keys(team, "live")
    assert cap == 2
    chains = [issue_key(name=f"Server {n}") for n in range(cap)]
    for _ in range(3):
        for position, (key, _raw) in enumerate(chains):
            with django_capture_on_commit_callbacks(execute=True):
                chains[position] = key.rotate(WEEK, actor=alice)
            assert working_live_keys(team) <= 2 * cap
    assert working_live_keys(team) == 2 * cap  # each chain: its newest key and one retiring


def test_rotating_a_successor_stops_the_key_it_replaced_and_the_gateway_sees_it(
    alice, team, issue_key, django_capture_on_commit_callbacks
):
    first, first_raw = issue_key()
    with django_capture_on_commit_callbacks(execute=True):
        second, second_raw = first.rotate(WEEK, actor=alice)
    assert records.lookup(first_raw).is_usable_at(time.time())  # cached by this process
    with django_capture_on_commit_callbacks(execute=True):
        _third, third_raw = second.rotate(WEEK, actor=alice)

    assert not records.lookup(first_raw).is_usable_at(time.time())
    assert records.lookup(second_raw).is_usable_at(time.time())  # inside its own grace
    assert records.lookup(third_raw).is_usable_at(time.time())
    first.refresh_from_db()
    assert first.status() == "revoked"
    event = AuditEvent.objects.get(action="key.revoked", target=first.public_id)
    assert event.actor == alice
    assert event.data == {"reason": "successor_rotated", "successor": second.public_id}


def test_a_predecessor_already_past_its_grace_is_left_as_it_is(alice, team, issue_key):
    first, _ = issue_key()
    second, _ = first.rotate(timedelta(0), actor=alice)
    second.rotate(WEEK, actor=alice)
    assert not AuditEvent.objects.filter(action="key.revoked", target=first.public_id).exists()
