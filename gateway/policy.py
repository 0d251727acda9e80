"""What the gateway enforces for an account, cached in process.

An ``AccountPolicy`` is a frozen snapshot of the account's effective plan (limits and included
products) and its billing standing (period and payment). The ``Catalog`` snapshot maps a request
path to its product and endpoint group. Both are plain dicts read without locks on the hot path;
they are reloaded from the database on a miss, after a TTL, when the billing period ends, and
when any process publishes an invalidation on Redis (``account_policy_changed``,
``catalog_applied``): see ``gateway.invalidation``.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import OrderedDict
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from accounts.models import Account
from billing.standing import standing_for
from catalog import paths
from catalog.models import ApiProduct
from usage.caps import period_limit

NO_LIMIT = -1


@dataclass(frozen=True, slots=True)
class Limits:
    per_second: int  # NO_LIMIT (-1) means unlimited, for each of the three
    per_minute: int
    per_period: int
    hard_cap: bool  # False: calls beyond per_period are admitted and billed as overage


@dataclass(frozen=True, slots=True)
class Entitlement:
    methods: tuple[str, ...]  # empty: every method
    path_prefixes: tuple[str, ...]  # empty: every path; full gateway paths, e.g. /demo/items

    def allows(self, method: str, path: str) -> bool:
        return (not self.methods or method in self.methods) and (
            not self.path_prefixes or paths.under_any(path, self.path_prefixes)
        )


@dataclass(frozen=True, slots=True)
class AccountPolicy:
    account_id: int
    plan_slug: str
    live: Limits
    test: Limits
    entitlements: dict[str, Entitlement]  # product slug → what of it the plan includes
    period_start: float  # unix seconds
    period_end: float
    payment_required: bool
    expires_at: float  # monotonic

    def limits_for(self, environment: str) -> Limits:
        return self.test if environment == "test" else self.live


def _limit(value: int | None) -> int:
    return NO_LIMIT if value is None else int(value)


def test_key_limits() -> Limits:
    return Limits(
        per_second=settings.GATEWAY_TEST_KEY_RPS,
        per_minute=settings.GATEWAY_TEST_KEY_RPM,
        per_period=settings.GATEWAY_TEST_KEY_PER_PERIOD,
        hard_cap=True,  # test keys are never billed, so never run into overage
    )


def load_policy(account_id: int, now: float) -> AccountPolicy | None:
    account = Account.objects.filter(pk=account_id, closed_at__isnull=True).first()
    plan = account.effective_plan() if account is not None else None
    if account is None or plan is None:
        return None
    standing = standing_for(account)
    entitlements = {
        item.product.slug: Entitlement(
            tuple(m.upper() for m in item.methods), tuple(item.path_prefixes)
        )
        for item in plan.entitlements.select_related("product")
    }
    per_period, hard_cap = period_limit(account, plan)  # the plan's quota, or the spend cap
    return AccountPolicy(
        account_id=account.pk,
        plan_slug=plan.slug,
        live=Limits(
            _limit(plan.requests_per_second),
            _limit(plan.requests_per_minute),
            _limit(per_period),
            hard_cap=hard_cap,
        ),
        test=test_key_limits(),
        entitlements=entitlements,
        period_start=standing.period_start.timestamp(),
        period_end=standing.period_end.timestamp(),
        payment_required=standing.payment_required,
        expires_at=expiry(standing.changes_at),
    )


class PolicyCache:
    """account id → (policy or None, expiry on the monotonic clock), least recently used first,
    at most ``max_entries`` of them (GATEWAY_POLICY_CACHE_ENTRIES). Thread-safe.

    An entry lives GATEWAY_POLICY_TTL_SECONDS (less up to a fifth, so the policies loaded
    together, at start-up or after an invalidation of everything, are not all reloaded in the
    same second), or until its standing changes by itself (``Standing.changes_at``: the end of
    a payment grace), whichever comes first; and until an invalidation drops it. ``generation``
    counts invalidations: a load that read the database before one arrived does not store what
    it read, which may be the state from before the change.
    """

    def __init__(self, max_entries: int) -> None:
        self._entries: OrderedDict[int, tuple[AccountPolicy | None, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.generation = 0

    def get(self, account_id: int, now: float) -> AccountPolicy | None:
        entry = self._entries.get(account_id)
        if entry is not None and entry[1] > time.monotonic():
            policy = entry[0]
            if policy is None or policy.period_start <= now < policy.period_end:
                # Without the lock, so hits never wait for each other (as apikeys.records).
                with suppress(KeyError):
                    self._entries.move_to_end(account_id)
                return policy
        generation = self.generation
        policy = load_policy(account_id, now)
        expires_at = (
            policy.expires_at if policy else time.monotonic() + settings.GATEWAY_POLICY_TTL_SECONDS
        )
        with self._lock:
            if generation == self.generation:
                self._entries[account_id] = (policy, expires_at)
                self._entries.move_to_end(account_id)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
        return policy

    def forget(self, account_id: int) -> None:
        with self._lock:
            self.generation += 1
            self._entries.pop(account_id, None)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def expiry(changes_at: datetime | None) -> float:
    """When a policy loaded now must be loaded again (monotonic clock): see PolicyCache."""
    ttl = settings.GATEWAY_POLICY_TTL_SECONDS * random.uniform(0.8, 1.0)
    if changes_at is not None:
        ttl = min(ttl, max(0.0, changes_at.timestamp() - time.time()))
    return time.monotonic() + ttl


@dataclass(frozen=True, slots=True)
class Product:
    slug: str
    path_prefix: str
    # (method or "", compiled path regex, group name) from the OpenAPI spec, most specific first
    endpoints: tuple[tuple[str, re.Pattern[str], str], ...]

    def endpoint_group(self, method: str, path: str) -> str:
        """The OpenAPI operation a call belongs to, e.g. "GET /items/{id}" (for usage)."""
        relative = "/" + path[len(self.path_prefix) :].lstrip("/")
        for endpoint_method, pattern, group in self.endpoints:
            if endpoint_method == method and pattern.fullmatch(relative):
                return group
        return "other"  # bounded: unknown paths never create new counters


_PARAMETER = re.compile(r"(\{[^}/]+\})")


def template_regex(template: str) -> re.Pattern[str]:
    parts = _PARAMETER.split(template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


def compile_endpoints(spec: dict[str, Any] | None) -> tuple[tuple[str, re.Pattern[str], str], ...]:
    endpoints = []
    for template, operations in ((spec or {}).get("paths") or {}).items():
        pattern = template_regex(template)
        for method in operations:
            if method.lower() in {"get", "put", "post", "delete", "patch", "head", "options"}:
                endpoints.append((method.upper(), pattern, f"{method.upper()} {template}"))
    # Literal segments before parameters: "/items/new" wins over "/items/{id}".
    endpoints.sort(key=lambda e: (e[2].count("{"), -len(e[2])))
    return tuple(endpoints)


class Catalog:
    """Products by path prefix, longest prefix first."""

    def __init__(self) -> None:
        self._products: tuple[Product, ...] | None = None
        self._expires_at = 0.0

    def product_for(self, path: str) -> Product | None:
        products = self._products
        if products is None or self._expires_at <= time.monotonic():
            products = self.reload()
        for product in products:
            if paths.under(path, product.path_prefix):
                return product
        return None

    def reload(self) -> tuple[Product, ...]:
        rows = ApiProduct.objects.only("slug", "path_prefix", "openapi_spec")
        products = tuple(
            sorted(
                (Product(p.slug, p.path_prefix, compile_endpoints(p.openapi_spec)) for p in rows),
                key=lambda p: -len(p.path_prefix),
            )
        )
        self._products = products
        self._expires_at = time.monotonic() + settings.GATEWAY_POLICY_TTL_SECONDS
        return products

    def clear(self) -> None:
        self._products = None


policies = PolicyCache(settings.GATEWAY_POLICY_CACHE_ENTRIES)
catalog = Catalog()
