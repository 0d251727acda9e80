"""What the gateway knows about a key: a small immutable record, cached in process.

``lookup(raw)`` is the one function the gateway calls. A malformed key never reaches the
cache, the database or Redis. Unknown keys are cached too (negative caching), so a client
repeating a wrong key costs one query per NEGATIVE_TTL_SECONDS, not one per request.

Entries are dropped across processes through Redis pub/sub (see invalidation.py), from both
maps below. While this process's listener cannot hear Redis, entries live only
FALLBACK_TTL_SECONDS.

Known keys' records (``cache``, a core.lru.RefreshingLRU) and unknown keys (``unknown``, a
smaller core.lru.ExpiringLRU) are kept apart: anyone can forge well-formed keys (the checksum
is a public CRC32), and in one map their negative entries pushed real keys' records out, so a
flood of forgeries sent paying customers' next calls to the database. Now a flood churns only
the unknown keys' map. ``cache`` holds at most GATEWAY_KEY_CACHE_ENTRIES records and drops the
least recently used one to make room. A known key still in use in the last two fifths of its
entry's life is reloaded in the background (core.refresh), in batches: a key called at least
once a minute (a fifth of the TTL) never waits for the database. On the auth server's loop,
first loads are read in batches too (core.first_loads), and the gateway's lookups spend the
client address's budget of unknown keys (apikeys.unknown_keys) on each miss.
"""

from __future__ import annotations

import ipaddress
import json
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db.models import TextField
from django.db.models.expressions import Combinable
from django.db.models.functions import Cast

from apikeys import keys
from apikeys.invalidation import key_hashes_channel
from apikeys.models import RESTRICTION_FIELDS, ApiKey
from apikeys.unknown_keys import TooManyUnknownKeys, UnknownKeyBudgets
from core.first_loads import FirstLoads
from core.lru import ExpiringLRU, RefreshingLRU
from core.prepared import PreparedRead
from core.refresh import Refresher, Reload, refresh_at, sooner

# Revocations, rotations and edits reach every process through the listener within milliseconds,
# so a trusted entry can live long: the gateway then touches the database once per key, not once
# per call. The TTL only bounds staleness from changes made behind the ORM's back.
CACHE_TTL_SECONDS = 300.0
NEGATIVE_TTL_SECONDS = 30.0
# Unknown keys kept (~225 bytes each: 2.2 MB). Worth keeping are the few a client repeats (a
# stale key in a config, a retrying script), which this many outlasts by far; fresh forgeries
# gain nothing from any size, since none is sent twice. Not a setting: nothing to tune it for.
UNKNOWN_KEY_ENTRIES = 10_000
# Without a working invalidation listener a revocation is only seen when the entry expires.
FALLBACK_TTL_SECONDS = 0.5

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# The columns a record is made of, in KeyRecord.from_row's order.
RECORD_FIELDS = (
    "public_id", "account_id", "environment", "revoked_at", "expires_at", "grace_ends_at",
    *RESTRICTION_FIELDS,
)  # fmt: skip
# The same columns as a batch reads them: the restriction lists as their JSON text, decoded
# only when not empty (most keys have none). Decoding four empty lists a row through the
# JSON field was a third of a batch's reload.
BATCH_COLUMNS: tuple[str | Combinable, ...] = (
    *RECORD_FIELDS[: -len(RESTRICTION_FIELDS)],
    *(Cast(name, TextField()) for name in RESTRICTION_FIELDS),
)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    key_id: str  # the public id, e.g. key_4fQz...
    account_id: int
    environment: str  # "live" or "test"
    status: str  # "active" or "revoked"
    expires_at: float | None  # unix seconds
    grace_ends_at: float | None  # unix seconds: an old key after rotation works until then
    allowed_products: tuple[str, ...]
    allowed_path_prefixes: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_networks: tuple[IpNetwork, ...]
    # The key's entitlement tokens (gateway.entitlements), kept with its record: a call finds
    # them in the object it already holds, where a cache of their own was one more map of
    # 100,000 entries to miss in (bench (h)). Carried over to a reloaded record (reload_many).
    # Name → token and name → renewal time: maps of strings and numbers only, which the cyclic
    # collector stops tracking (a tuple in either kept the map tracked, one more object per
    # key for every full pass to walk: see docs/architecture.md, "API keys").
    tokens: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    renewals: dict[str, float] = field(default_factory=dict, compare=False, repr=False)

    def is_usable_at(self, now: float) -> bool:
        if self.status != "active":
            return False
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.grace_ends_at is None or self.grace_ends_at > now

    @classmethod
    def from_model(cls, key: ApiKey) -> KeyRecord:
        return cls.from_row(*(getattr(key, name) for name in RECORD_FIELDS))

    @classmethod
    def from_row(
        cls,
        public_id: str,
        account_id: int,
        environment: str,
        revoked_at: datetime | None,
        expires_at: datetime | None,
        grace_ends_at: datetime | None,
        products: list[str],
        prefixes: list[str],
        methods: list[str],
        ips: list[str],
    ) -> KeyRecord:
        """A record from RECORD_FIELDS' values, in their order."""
        return cls(
            key_id=public_id,
            account_id=account_id,
            environment=environment,
            status="revoked" if revoked_at is not None else "active",
            expires_at=expires_at.timestamp() if expires_at else None,
            grace_ends_at=grace_ends_at.timestamp() if grace_ends_at else None,
            allowed_products=tuple(products),
            allowed_path_prefixes=tuple(prefixes),
            allowed_methods=tuple(m.upper() for m in methods),
            allowed_networks=tuple(ipaddress.ip_network(n, strict=False) for n in ips),
        )


def expiry(record: KeyRecord | None, trusted: bool) -> float:
    """When a record loaded now must be read again (monotonic clock)."""
    if not trusted:
        return time.monotonic() + FALLBACK_TTL_SECONDS
    return time.monotonic() + (CACHE_TTL_SECONDS if record is not None else NEGATIVE_TTL_SECONDS)


def refresh_time(record: KeyRecord, trusted: bool) -> float | None:
    """When a record loaded now is reloaded if still in use: never one cached while the
    listener is deaf. (Unknown keys are never reloaded: their map does not refresh, so a flood
    of made-up keys is not kept alive.)"""
    if not trusted:
        return None
    return refresh_at(time.monotonic(), CACHE_TTL_SECONDS)


# key hash → record of a known key
cache: RefreshingLRU[str, KeyRecord] = RefreshingLRU(settings.GATEWAY_KEY_CACHE_ENTRIES)
# key hash → None: keys no row has
unknown: ExpiringLRU[str, None] = ExpiringLRU(UNKNOWN_KEY_ENTRIES)


def forget(key_hash: str) -> None:
    """An invalidation: a key changed, or came to exist (it may have been cached as unknown)."""
    cache.forget(key_hash)
    unknown.forget(key_hash)


def clear() -> None:
    """Nothing cached is to be trusted (the listener may have missed invalidations)."""
    cache.clear()
    unknown.clear()


listener = key_hashes_channel.listen(on_message=forget, on_deaf=clear)
# Client address → unknown keys looked up in this window (apikeys.unknown_keys).
unknown_key_budgets = UnknownKeyBudgets()


# key_hash is unique: one row at most, no ordering needed.
_by_hash = PreparedRead(lambda key_hash: ApiKey.objects.filter(key_hash=key_hash)[:1], str)


def read(key_hashes: list[str]) -> dict[str, KeyRecord | None]:
    """The records of these keys (None: no such key), in one query. One key is read through
    its prepared query; more, only the record's columns, as tuples: 14 µs a key instead of
    25-32 with a model instance per row (SQLite, batches of 500)."""
    if len(key_hashes) == 1:
        key = _by_hash.first(key_hashes[0])
        return {key_hashes[0]: KeyRecord.from_model(key) if key is not None else None}
    records: dict[str, KeyRecord | None] = dict.fromkeys(key_hashes)
    rows = ApiKey.objects.filter(key_hash__in=key_hashes).values_list("key_hash", *BATCH_COLUMNS)
    for key_hash, *row in rows:
        columns, lists = row[: -len(RESTRICTION_FIELDS)], row[-len(RESTRICTION_FIELDS) :]
        records[key_hash] = KeyRecord.from_row(*columns, *map(_listed, lists))
    return records


def _listed(text: str) -> list[str]:
    """A restriction list from its JSON text (BATCH_COLUMNS)."""
    return [] if text == "[]" else json.loads(text)


def load(key_hashes: list[str]) -> dict[str, KeyRecord | None]:
    """First loads (core.first_loads): the records read, and cached unless invalidated
    meanwhile (each due for its first reload sooner than a reload is: core.refresh.sooner);
    unknown keys in their own map, for NEGATIVE_TTL_SECONDS."""
    generation, unknown_generation = cache.generation, unknown.generation
    records = read(key_hashes)
    trusted = listener.connected
    for key_hash, record in records.items():
        if record is None:
            unknown.put(key_hash, None, expiry(None, trusted), generation=unknown_generation)
        else:
            cache.put(key_hash, record, expiry(record, trusted), generation=generation,
                      refresh_at=sooner(refresh_time(record, trusted)))  # fmt: skip
    return records


def reload_many(key_hashes: list[str]) -> list[tuple[str, Reload[KeyRecord]]]:
    """The records of keys due for a refresh, in one query (the keys found; the others are
    dropped and read again by their next call). A record read as it is held keeps the held one,
    with its tokens; a changed one takes the held tokens while their claims (key, account,
    environment) are the same."""
    trusted = listener.connected
    reloads: list[tuple[str, Reload[KeyRecord]]] = []
    for key_hash, record in read(key_hashes).items():
        if record is None:
            continue
        held = cache.peek(key_hash)
        if held == record:  # tokens and renewals are not compared
            record = held
        elif held is not None and (held.key_id, held.account_id, held.environment) == (
            record.key_id,
            record.account_id,
            record.environment,
        ):
            record.tokens.update(held.tokens)  # still the same claims: no signing again
            record.renewals.update(held.renewals)
        reloads.append((key_hash, (record, expiry(record, trusted), refresh_time(record, trusted))))
    return reloads


refresher = Refresher("key records", cache, reload_many)
first_loads = FirstLoads("key records", load)


def lookup(raw: str, client: str | None = None) -> KeyRecord | None:
    """The record of a raw key, or None for a malformed or unknown one.

    The caches are asked first, known keys' before unknown ones' (a known key's hit costs what
    it did with one map): only well-formed keys are ever stored, so a hit needs no shape and
    checksum check. A miss, or a process whose listener is not running yet (its caches may hold
    a parent's entries), takes the check first (no I/O): malformed keys reach neither Redis nor
    the database, nor the caches.

    ``client``, the caller's address (the gateway passes it), pays for a miss from its budget
    of unknown keys: past it, TooManyUnknownKeys is raised instead of a query."""
    if len(raw) > keys.MAX_LENGTH:
        return None  # before hashing: no hashing of a 64 KB header
    key_hash = keys.hash_key(raw)
    if listener.running:
        hit, record = cache.get(key_hash)
        if hit:
            return record
        if unknown.get(key_hash)[0]:
            return None
    if not keys.is_well_formed(raw):
        return None
    # A miss (asked above), or a listener starting now, which empties the caches as it starts.
    listener.ensure_running()
    if client is None:
        return first_loads.get(key_hash)
    return first_load_paid_by(client, key_hash)


def first_load_paid_by(client: str, key_hash: str) -> KeyRecord | None:
    """A first load that spends one of the client's unknown keys, given back when the key is
    found or the read fails: only keys no row has use a budget up."""
    allowed = settings.GATEWAY_UNKNOWN_KEYS_PER_ADDRESS
    if not allowed:  # 0: no limit
        return first_loads.get(key_hash)
    if not unknown_key_budgets.spend(client, allowed):
        raise TooManyUnknownKeys(unknown_key_budgets.retry_after())
    try:
        record = first_loads.get(key_hash)
    except BaseException:
        unknown_key_budgets.give_back(client)
        raise
    if record is not None:
        unknown_key_budgets.give_back(client)
    return record
