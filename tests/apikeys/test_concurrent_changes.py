"""Double clicks and parallel requests: the key cap and rotation hold under real concurrency."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections

from apikeys.models import ApiKey, KeyActionError

pytestmark = pytest.mark.django_db(transaction=True)

needs_row_locks = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="an in-memory SQLite test database has no concurrent writers to race",
)


def race(action, times: int = 6) -> list[object]:
    """Run `action` in `times` threads released together; returns results or exceptions."""
    barrier = threading.Barrier(times)
    results: list[object] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(action())
        except KeyActionError as error:
            results.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


@needs_row_locks
def test_parallel_creates_never_pass_the_plans_cap(team, alice):
    results = race(lambda: ApiKey.objects.issue(team, name="racer", created_by=alice))
    assert sum(isinstance(r, tuple) for r in results) == 2  # the default cap
    assert ApiKey.objects.filter(account=team).count() == 2


@needs_row_locks
def test_parallel_rotations_mint_exactly_one_successor(team, alice):
    key, _ = ApiKey.objects.issue(team, name="rotated", created_by=alice)
    results = race(lambda: ApiKey.objects.get(pk=key.pk).rotate(timedelta(hours=1), actor=alice))
    assert sum(isinstance(r, tuple) for r in results) == 1
    assert ApiKey.objects.filter(account=team).count() == 2
