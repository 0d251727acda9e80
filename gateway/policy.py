"""What the gateway enforces for an account, cached in process.

An ``AccountPolicy`` is a frozen snapshot of the account's effective plan (limits and included
products) and its billing standing (period and payment). The ``Catalog`` snapshot maps a request
path to its product and endpoint group. Both are plain dicts read without locks on the hot path;
they are reloaded from the database on a miss, after a TTL, when the billing period ends, and
when any process publishes an invalidation on Redis (``account_policy_changed``,
``catalog_applied``): see ``gateway.invalidation``.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from accounts.models import Account
from billing.standing import Standing, standing_for
from catalog import paths
from catalog.models import ApiProduct
from credits.terms import prepaid_terms
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
    credits: bool = False  # live calls spend prepaid credits (credits.terms)
    pass_expired: bool = False  # live calls are refused: the account's time pass ran out

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
    if account is None:
        return None
    # A pass or credits, for an account without a subscription (credits.terms).
    prepaid = prepaid_terms(account, datetime.fromtimestamp(now, UTC))
    plan = prepaid.plan if prepaid is not None else account.effective_plan()
    if plan is None:
        return None
    standing = standing_for(account)
    if prepaid is not None and prepaid.period is not None:
        standing = Standing(*prepaid.period, payment_required=False)
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
        expires_at=time.monotonic() + settings.GATEWAY_POLICY_TTL_SECONDS,
        credits=prepaid is not None and prepaid.credits,
        pass_expired=prepaid is not None and prepaid.pass_expired,
    )


class PolicyCache:
    def __init__(self) -> None:
        self._entries: dict[int, AccountPolicy | None] = {}
        self._expiry: dict[int, float] = {}
        self._lock = threading.Lock()

    def get(self, account_id: int, now: float) -> AccountPolicy | None:
        policy = self._entries.get(account_id)
        fresh = self._expiry.get(account_id, 0.0) > time.monotonic()
        if fresh and (policy is None or policy.period_start <= now < policy.period_end):
            return policy
        policy = load_policy(account_id, now)
        with self._lock:
            self._entries[account_id] = policy
            self._expiry[account_id] = (
                policy.expires_at
                if policy
                else time.monotonic() + settings.GATEWAY_POLICY_TTL_SECONDS
            )
        return policy

    def forget(self, account_id: int) -> None:
        with self._lock:
            self._expiry.pop(account_id, None)
            self._entries.pop(account_id, None)

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()
            self._entries.clear()


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


policies = PolicyCache()
catalog = Catalog()
