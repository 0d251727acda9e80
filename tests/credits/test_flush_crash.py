"""A real Celery worker SIGKILLed at each step of the credit flush; a fresh one reruns it.

As in tests/usage/test_flush_crash.py the test never asks the product to stop: it holds what
the worker needs next and watches it wait. The apply step's first need is the wallet's row
(SELECT ... FOR UPDATE): the test holds it. The forget step's DEL is a Redis write: the test
pauses Redis writes (CLIENT PAUSE ... WRITE) once the worker has claimed.

Calls spend credits through the gateway's own Lua script (gateway.counting), before and after.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from django.db import connection

from core.redis_keys import counter_keys, credits_key
from credits import balance, ledger
from credits.models import CreditEntry, EntryKind
from credits.tasks import flush as flush_task
from gateway.counting import check_and_count
from gateway.policy import NO_LIMIT, Limits
from portal.celery import app as celery_app
from tests.helpers import celery_app_on
from tests.usage.test_flush_crash import WAIT
from tests.usage.test_flush_crash import Rig as UsageRig

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
UNLIMITED = Limits(NO_LIMIT, NO_LIMIT, NO_LIMIT, hard_cap=False)


def spend(account_id: int, n: int) -> int:
    """`n` calls through the gateway's script; returns how many it admitted."""
    now = time.time()
    keys = counter_keys(account_id, "live", now, now - 60)
    field, key = "k|demo|GET /hello", credits_key(account_id)
    results = [
        check_and_count(keys, UNLIMITED, field, 3600, now, credits_key=key) for _ in range(n)
    ]
    return sum(r.admitted for r in results)


class Rig(UsageRig):
    """The usage flush test's rig (Redis, database, worker, kill, paused writes), with what the
    credit flush waits for."""

    @contextmanager
    def wallet_lock(self) -> Iterator[None]:
        """What the apply step takes first: the wallet's row."""
        with self.postgres() as db:
            db.execute(
                "SELECT id FROM credits_creditwallet WHERE account_id = %s FOR UPDATE",
                [self.team.id],
            )
            yield

    def batches(self) -> list[str]:
        return balance.pending_batches(self.team.id, self.redis)

    def worker_waits_on_the_wallet(self) -> bool:
        return self.worker_waits_in("credits_creditwallet") is not None


def usage_entries() -> int:
    return CreditEntry.objects.filter(kind=EntryKind.USAGE).count()


def kill_after_claiming(rig: Rig) -> None:
    """Claimed (the spent units moved to a batch), not applied."""
    with rig.worker() as process, rig.wallet_lock():
        flush_task.delay()
        rig.wait(lambda: len(rig.batches()) == 1, "the worker to claim")
        rig.wait(rig.worker_waits_on_the_wallet, "the worker to wait for the wallet")
        rig.kill(process)
    assert usage_entries() == 0 and len(rig.batches()) == 1


def kill_after_committing(rig: Rig) -> None:
    """The usage entry committed, the batch not deleted."""
    with rig.worker() as process, ExitStack() as paused:
        with rig.wallet_lock():
            flush_task.delay()
            rig.wait(lambda: len(rig.batches()) == 1, "the worker to claim")
            paused.enter_context(rig.redis_writes_paused())
        rig.wait(lambda: usage_entries() == 1, "the commit")
        rig.kill(process)
    assert usage_entries() == 1 and len(rig.batches()) == 1


CRASHES = {"after claiming": kill_after_claiming, "after COMMIT, before DEL": kill_after_committing}


@pytest.fixture
def rig(private_redis, settings, team, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("watches PostgreSQL's lock waits")
    settings.REDIS_URL = private_redis.url
    celery_app.conf.task_always_eager = False
    with celery_app_on(private_redis.url):
        yield Rig(private_redis, team, tmp_path)


@pytest.mark.parametrize("crash", CRASHES)
def test_a_worker_killed_at_any_step_of_the_credit_flush_loses_and_doubles_nothing(
    rig, team, pack, crash
):
    pack.credits = 100
    pack.save()
    entry = ledger.grant_pack(team, pack, EntryKind.PURCHASE, "cs_crash", None)
    balance.apply_grant(entry, rig.redis)
    admitted = spend(team.id, 30)
    CRASHES[crash](rig)
    admitted += spend(team.id, 80)  # the gateway never stopped: 70 more fit
    with rig.worker():
        flush_task.delay().get(timeout=WAIT)
    assert admitted == 100
    usage = CreditEntry.objects.filter(kind=EntryKind.USAGE)
    assert -sum(usage.values_list("units", flat=True)) == 100
    assert CreditEntry.objects.filter(account=team).balance() == 0
    assert balance.balance_of(team.id, rig.redis) == 0
    assert rig.batches() == []
