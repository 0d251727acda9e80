"""A real Celery worker SIGKILLed at each step of the usage flush; a fresh one reruns it.

The test never asks the product to stop anywhere: it holds what the worker needs next and
watches the worker wait for it, from outside.

- The apply step's first need is a lock: on PostgreSQL the account's row (SELECT ... FOR UPDATE),
  on SQLite the database's write lock (an IMMEDIATE transaction). The test holds it.
- The forget step's DEL is a Redis write: the test pauses Redis writes (CLIENT PAUSE ... WRITE),
  which leaves reads and the worker's already committed transaction alone.
- On PostgreSQL the test can also lock a rollup row the batch adds to, so the worker waits in the
  middle of its transaction, with its FlushedBatch row already inserted.

Calls are counted by the gateway's own Lua script (gateway.counting), before and after the crash.
"""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Sum

from apikeys.models import ApiKey
from gateway.counting import check_and_count, counter_keys
from gateway.policy import NO_LIMIT, Limits
from portal.celery import app as celery_app
from portal.celery import ping
from tests.gateway.stack import database_url
from tests.gateway.support import make_key, make_plan
from tests.helpers import celery_app_on, celery_worker, wait_for
from usage.flush import flush
from usage.models import DailyUsage, FlushedBatch, HourlyUsage, OverageToReport
from usage.tasks import flush_counters

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Two hours of one billing period (March 2026, the calendar month: no subscription), far from
# today so the period never moves under the test.
PERIOD_START = datetime(2026, 3, 1, tzinfo=UTC)
HOURS = (datetime(2026, 3, 10, 14, tzinfo=UTC), datetime(2026, 3, 10, 15, tzinfo=UTC))
QUOTA = 40  # live calls beyond it are overage, queued for Billing once per batch
BATCHES = 3  # live calls in two hours, test-key calls in one
WAIT = 60.0


@dataclass
class Traffic:
    """Calls through the gateway's Lua script, and what it answered for each."""

    account_id: int
    made: Counter[tuple[str, datetime, str]] = field(default_factory=Counter)

    def calls(self, key: ApiKey, hour: datetime, n: int, limits: Limits) -> None:
        now = (hour + timedelta(minutes=30)).timestamp()
        keys = counter_keys(self.account_id, key.environment, now, PERIOD_START.timestamp())
        for _ in range(n):
            count = check_and_count(
                keys, limits, f"{key.public_id}|demo|GET /demo/hello", 86400, now
            )
            # The usage hash has one rate_limited outcome for the second and minute windows.
            outcome = "rate_limited" if count.outcome.startswith("rate_limited") else count.outcome
            self.made[(key.public_id, hour, outcome)] += 1

    def live_ok(self, live_ids: set[str]) -> int:
        return sum(
            n for (k, _, outcome), n in self.made.items() if k in live_ids and outcome == "ok"
        )


OVERAGE_PLAN = Limits(NO_LIMIT, NO_LIMIT, QUOTA, hard_cap=False)
TEST_KEY_LIMITS = Limits(NO_LIMIT, 12, NO_LIMIT, hard_cap=True)  # some calls rate limited


class Rig:
    """The test's Redis, database, worker and the locks it holds against the worker."""

    def __init__(self, redis_server, team, tmp_path) -> None:
        self.redis = redis_server.client()
        self.team = team
        self.env = {
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": database_url(),
            "SECRET_KEY": settings.SECRET_KEY,
            "APIKEY_PEPPER": settings.APIKEY_PEPPER,
            "TOLLGATE_VAR_DIR": str(tmp_path / "var"),  # the worker's quota emails go here
        }

    @contextmanager
    def worker(self) -> Iterator[object]:
        with celery_worker(env=self.env) as process:
            assert ping.delay("up").get(timeout=WAIT) == "up"
            yield process

    def wait(self, predicate, what: str) -> None:
        wait_for(predicate, timeout=WAIT, interval=0.01, what=what)

    def wait_for_the_lock_wait(self, statement: str) -> None:
        """PostgreSQL shows which statement a session waits in; SQLite's busy wait shows nothing
        (there, the worker is known to be past the RENAMEs and short of a commit)."""
        if connection.vendor == "postgresql":
            self.wait(lambda: self.worker_waits_in(statement), f"the worker to wait in {statement}")

    def kill(self, process) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=WAIT)

    def flush_in_a_fresh_worker(self) -> str:
        with self.worker():
            return flush_counters.delay().get(timeout=WAIT)

    # --- What the test holds against the worker -------------------------------------------

    @contextmanager
    def apply_lock(self) -> Iterator[None]:
        """What apply() takes first: the account's row, or on SQLite the database's write lock."""
        if connection.vendor == "sqlite":
            lite = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
            lite.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                lite.execute("ROLLBACK")
                lite.close()
            return
        with self.postgres() as db:
            db.execute("SELECT id FROM accounts_account WHERE id = %s FOR UPDATE", [self.team.id])
            yield

    @contextmanager
    def rollup_rows_lock(self) -> Iterator[None]:
        """PostgreSQL only: the rows a batch adds to, so the worker waits mid-transaction."""
        with self.postgres() as db:
            db.execute(
                "SELECT id FROM usage_hourlyusage WHERE account_id = %s FOR UPDATE", [self.team.id]
            )
            yield

    @contextmanager
    def postgres(self) -> Iterator[psycopg.Connection]:
        with psycopg.connect(database_url()) as db:  # one transaction, rolled back at exit
            try:
                yield db
            finally:
                db.rollback()

    @contextmanager
    def redis_writes_paused(self) -> Iterator[None]:
        self.redis.execute_command("CLIENT", "PAUSE", int(WAIT * 1000), "WRITE")
        try:
            yield
        finally:
            self.redis.execute_command("CLIENT", "UNPAUSE")

    # --- What the test watches --------------------------------------------------------------

    def batch_keys(self) -> list[bytes]:
        return list(self.redis.scan_iter(match="tg:*batch:*"))

    def live_keys(self) -> list[bytes]:
        return list(self.redis.scan_iter(match="tg:*use:*"))

    def all_claimed(self) -> bool:
        return not self.live_keys() and len(self.batch_keys()) == BATCHES

    def worker_waits_in(self, statement: str) -> int | None:
        """PostgreSQL: the backend of a session waiting for a lock in that statement."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND query LIKE %s",
                [f"%{statement}%"],
            )
            row = cursor.fetchone()
        return row[0] if row else None

    def no_open_transaction_but_ours(self) -> bool:
        """PostgreSQL: a killed worker's backend notices and rolls back once it may proceed."""
        if connection.vendor != "postgresql":
            return True
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
            )
            return cursor.fetchone()[0] == 0


def applied_batches() -> int:
    return FlushedBatch.objects.count()


# --- The crash points: each leaves the worker dead at one step, and checks where it died ----


def kill_after_claiming(rig: Rig) -> None:
    """Step 1 done (every live hash RENAMEd to a batch), step 2 not begun."""
    with rig.worker() as process, rig.apply_lock():
        flush_counters.delay()
        rig.wait(rig.all_claimed, "the worker to claim the counters")
        rig.wait_for_the_lock_wait("FOR UPDATE")
        rig.kill(process)
    assert applied_batches() == 0 and len(rig.batch_keys()) == BATCHES


def kill_mid_transaction(rig: Rig) -> None:
    """Step 2 half done: FlushedBatch inserted, the rollups being added to, nothing committed."""
    before = applied_batches()
    with rig.worker() as process, rig.rollup_rows_lock():
        flush_counters.delay()
        rig.wait_for_the_lock_wait("INSERT INTO usage_hourlyusage")
        rig.kill(process)
    rig.wait(rig.no_open_transaction_but_ours, "the dead session's rollback")
    assert applied_batches() == before and len(rig.batch_keys()) == BATCHES


def kill_after_committing(rig: Rig) -> None:
    """Step 2 committed for one batch, its step 3 (DEL) not done."""
    with rig.worker() as process, ExitStack() as paused:
        with rig.apply_lock():
            flush_counters.delay()
            rig.wait(rig.all_claimed, "the worker to claim the counters")
            paused.enter_context(rig.redis_writes_paused())
        # Lock released, writes still paused: the worker commits one batch and waits to DEL it.
        rig.wait(lambda: applied_batches() == 1, "the first commit")
        rig.kill(process)
    assert applied_batches() == 1 and len(rig.batch_keys()) == BATCHES


def kill_between_batches(rig: Rig) -> None:
    """One batch through all three steps, the next ones claimed but not applied."""
    with rig.worker() as process, ExitStack() as locked_again:
        with ExitStack() as paused:
            with rig.apply_lock():
                flush_counters.delay()
                rig.wait(rig.all_claimed, "the worker to claim the counters")
                paused.enter_context(rig.redis_writes_paused())
            rig.wait(lambda: applied_batches() == 1, "the first commit")
            locked_again.enter_context(rig.apply_lock())
        # Writes resume: the worker DELs the batch, then waits for the lock at the next one.
        rig.wait(lambda: len(rig.batch_keys()) == BATCHES - 1, "the first DEL")
        rig.wait_for_the_lock_wait("FOR UPDATE")
        rig.kill(process)
    assert applied_batches() == 1 and len(rig.batch_keys()) == BATCHES - 1


CRASHES = {
    "after RENAME": kill_after_claiming,
    "mid-transaction": kill_mid_transaction,
    "after COMMIT, before DEL": kill_after_committing,
    "between batches": kill_between_batches,
}


@pytest.fixture
def rig(private_redis, settings, team, tmp_path):
    settings.REDIS_URL = private_redis.url  # the gateway's counting and the test's reads
    celery_app.conf.task_always_eager = False
    with celery_app_on(private_redis.url):
        yield Rig(private_redis, team, tmp_path)


@pytest.mark.parametrize("crash", CRASHES)
def test_a_worker_killed_at_any_step_of_the_flush_loses_and_doubles_nothing(rig, team, crash):
    if crash == "mid-transaction" and connection.vendor != "postgresql":
        pytest.skip(
            "SQLite takes its write lock as a transaction begins and never waits inside one: "
            "nothing outside the worker can stop it mid-transaction"
        )
    team.plan = make_plan("overage", requests_per_period=QUOTA, overage_price_per_1000="0.5")
    team.save()
    _, live = make_key(team)
    _, test = make_key(team, "test")
    traffic = Traffic(team.id)
    if crash == "mid-transaction":
        # Rows of an earlier, complete flush: whichever batch the worker applies first, the
        # first row it adds to is one the test has locked.
        traffic.calls(live, HOURS[0], 5, OVERAGE_PLAN)
        traffic.calls(live, HOURS[1], 5, OVERAGE_PLAN)
        traffic.calls(test, HOURS[0], 15, TEST_KEY_LIMITS)
        flush(rig.redis)
    traffic.calls(live, HOURS[0], 30, OVERAGE_PLAN)
    traffic.calls(live, HOURS[1], 20, OVERAGE_PLAN)
    traffic.calls(test, HOURS[0], 20, TEST_KEY_LIMITS)

    CRASHES[crash](rig)
    # The gateway never stopped counting; beat's next run finds a fresh worker.
    traffic.calls(live, HOURS[1], 7, OVERAGE_PLAN)
    traffic.calls(test, HOURS[0], 3, TEST_KEY_LIMITS)
    rig.flush_in_a_fresh_worker()

    rows: Counter[tuple[str, datetime, str]] = Counter()
    for key_id, hour, outcome, count in HourlyUsage.objects.values_list(
        "key_id", "hour", "outcome", "count"
    ):
        rows[(key_id, hour, outcome)] += count
    assert rows == traffic.made
    assert traffic.made[(test.public_id, HOURS[0], "rate_limited")] > 0  # denials too
    calls = sum(traffic.made.values())
    assert DailyUsage.objects.aggregate(n=Sum("count"))["n"] == calls
    assert FlushedBatch.objects.aggregate(n=Sum("calls"))["n"] == calls
    assert rig.batch_keys() == [] and rig.live_keys() == []
    live_ok = traffic.live_ok({live.public_id})
    quota_key = counter_keys(team.id, "live", HOURS[0].timestamp(), PERIOD_START.timestamp())[2]
    assert int(rig.redis.get(quota_key)) == live_ok  # what the gateway admitted = the rollups
    # What Billing meters: the calls beyond the quota, once, whatever crashed.
    assert OverageToReport.objects.aggregate(n=Sum("quantity"))["n"] == live_ok - QUOTA
