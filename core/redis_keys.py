"""Every Redis key name of the gateway's counting and the usage flush, in one place.

An account's keys share its hash tag ``{acct:<id>}``, so they live in one Redis Cluster slot: the
gateway's Lua script and the flush's claim touch several of them atomically. The one global key,
the set of accounts with unflushed calls, has its own tag (``{usage}``); nothing that runs inside
an account's slot writes it (see usage/flush.py for how it is kept).
"""

from __future__ import annotations

import time
from functools import lru_cache

# Live and test keys count into separate hashes; their batches keep the kind apart.
USAGE_KINDS = {"live": "use", "test": "test-use"}
BATCH_KINDS = {"use": "batch", "test-use": "test-batch"}

# Accounts whose hours set changed since the flush last took this set (a work queue).
DIRTY_ACCOUNTS = "tg:{usage}:dirty"
# The dirty sets flushes took (each renamed to a name of its own, DIRTY_RUN_PREFIX + a uuid) and
# have not finished: a taken set never changes, so whichever run reads one may delete it once it
# has flushed its accounts, and a crashed run's sets are redone by the next.
DIRTY_RUNS = "tg:{usage}:dirty:runs"
DIRTY_RUN_PREFIX = "tg:{usage}:dirty:run:"


def account_tag(account_id: int) -> str:
    return f"tg:{{acct:{account_id}}}"


def usage_key(account_id: int, environment: str, now: float) -> str:
    """The hash of an hour's calls: fields ``<key_id>|<product>|<endpoint>|<outcome>``."""
    kind = USAGE_KINDS["live" if environment == "live" else "test"]
    return f"{account_tag(account_id)}:{kind}:{hour_stamp(int(now // 3600))}"


@lru_cache(maxsize=64)
def hour_stamp(hour: int) -> str:
    """An hour since the epoch as its usage hashes name it (strftime is dear per call)."""
    return time.strftime("%Y%m%d%H", time.gmtime(hour * 3600))


def live_hours_key(account_id: int) -> str:
    """The set of the account's usage hashes (their names) the flush has not claimed yet."""
    return f"{account_tag(account_id)}:hours"


def batches_key(account_id: int) -> str:
    """The set of the account's claimed batches (their names) not yet applied and deleted."""
    return f"{account_tag(account_id)}:batches"


def counter_keys(
    account_id: int, environment: str, now: float, period_start: float
) -> tuple[str, ...]:
    """The keys of one call, in the order gateway/limits.lua takes them."""
    return hour_keys(account_id, environment, int(now // 3600), int(period_start))


# The gateway names the same few keys on every call of an account in an hour: formatting them
# (and the hour, through strftime) was a tenth of the decision's own CPU. Room for as many
# accounts as the gateway's policy cache holds by default (GATEWAY_POLICY_CACHE_ENTRIES,
# 100,000) and some: with 4,096, a gateway serving 100,000 accounts formatted them on nearly
# every call, 12% of its throughput in the 1M-key bench. About 400 bytes an entry.
HOUR_KEYS_ENTRIES = 131_072


@lru_cache(maxsize=HOUR_KEYS_ENTRIES)
def hour_keys(account_id: int, environment: str, hour: int, period_start: int) -> tuple[str, ...]:
    tag = account_tag(account_id)
    return (
        # The rolling windows: hashes of sub-buckets that gateway/limits.lua names by time.
        f"{tag}:rl:{environment}:s",
        f"{tag}:rl:{environment}:m",
        # The period's start is in the name: a call counts in the period it was decided in,
        # and a plan change (same period) keeps the count.
        f"{tag}:quota:{environment}:{period_start}",
        usage_key(account_id, environment, hour * 3600),
        live_hours_key(account_id),
    )


def endpoint_window_keys(account_id: int, environment: str, window_id: str) -> tuple[str, str]:
    """The rolling second and minute windows of one endpoint's own rate limits (limits.lua)."""
    tag = account_tag(account_id)
    return f"{tag}:rl:{environment}:ep:{window_id}:s", f"{tag}:rl:{environment}:ep:{window_id}:m"


def account_of(key: str) -> int:
    """The account id in a key name: ``tg:{acct:42}:...`` -> 42."""
    tag = key.split("{", 1)[1].split("}", 1)[0]
    return int(tag.removeprefix("acct:"))


def reconcile_continuation_key(run: str, lane: int, after_id: int) -> str:
    """Set by the first task of a reconcile lane to go on after a chunk (billing/tasks.py)."""
    return f"tg:reconcile:{run}:{lane}:{after_id}"


def credits_key(account_id: int) -> str:
    """The account's credit hash: ``balance`` (units the gateway may still spend) and ``used``
    (units spent since the credit flush last claimed them); see credits/balance.py."""
    return f"{account_tag(account_id)}:credits"


def credit_grants_key(account_id: int) -> str:
    """The set of ledger grants (CreditEntry ids) already added to the balance."""
    return f"{account_tag(account_id)}:credits:grants"


def credit_batches_key(account_id: int) -> str:
    """The set of claimed usage batches (their key names) not yet in the ledger."""
    return f"{account_tag(account_id)}:credits:batches"


def release_key(account_id: int, name: str) -> str:
    """Set by a lease's release (gateway/release.lua) so that a retry applies it once."""
    return f"{account_tag(account_id)}:release:{name}"


def tally_key(name: str) -> str:
    """Set by a batch of tallied calls (gateway/tally.lua) so that a retry applies it once."""
    return f"tg:tally:{name}"
