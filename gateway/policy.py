"""What the gateway enforces for an account, cached in process.

An ``AccountPolicy`` is a frozen snapshot of the account's effective plan (limits and included
products) and its billing standing (period and payment). The ``Catalog`` snapshot maps a request
path to its product and endpoint group. Both are plain dicts read without locks on the hot path;
they are reloaded from the database on a miss, after a TTL, when the billing period ends, and
when any process publishes an invalidation on Redis (``account_policy_changed``,
``catalog_applied``): see ``gateway.invalidation``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar, cast

from django.conf import settings
from django.db.models import Exists, OuterRef, QuerySet

from accounts.models import Account
from billing.models import Subscription
from billing.standing import Standing, standing_of
from catalog import paths
from catalog.models import ApiProduct, Plan
from catalog.operations import operations_of
from core import refresh
from core.first_loads import FirstLoads
from core.lru import ExpiringLRU, RefreshingLRU
from core.prepared import PreparedRead
from core.refresh import Refresher, Reload
from credits.models import CreditWallet, TimePass
from credits.terms import prepaid_terms
from usage.caps import period_limit, spend_cap_of

NO_LIMIT = -1
T = TypeVar("T")


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
    # Monotonic: used after this, the policy is reloaded in the background (PolicyCache).
    refresh_at: float | None = None
    credits: bool = False  # live calls spend prepaid credits (credits.terms)
    pass_expired: bool = False  # live calls are refused: the account's time pass ran out
    features: dict[str, bool | int] = field(default_factory=dict)  # the plan's, for the token
    # Changes with the plan's features: part of the entitlement token cache's key.
    features_digest: str = ""

    def limits_for(self, environment: str) -> Limits:
        return self.test if environment == "test" else self.live


def _limit(value: int | None) -> int:
    return NO_LIMIT if value is None else int(value)


@lru_cache(maxsize=1024)
def shared_limits(per_second: int, per_minute: int, per_period: int, hard_cap: bool) -> Limits:
    """One Limits per value for the policies that hold it (most accounts share their plan's):
    a gateway holding 100,000 accounts' policies held 200,000 Limits otherwise, which every
    full pass of the cyclic garbage collector walks while the loop waits."""
    return Limits(per_second, per_minute, per_period, hard_cap)


def test_key_limits() -> Limits:
    return shared_limits(
        settings.GATEWAY_TEST_KEY_RPS,
        settings.GATEWAY_TEST_KEY_RPM,
        settings.GATEWAY_TEST_KEY_PER_PERIOD,
        True,  # test keys are never billed, so never run into overage
    )


def open_accounts(**lookup: Any) -> QuerySet[Account]:
    """Accounts not closed, with whether each holds a pass or credits (credits.terms), and its
    spend cap (usage.caps)."""
    return Account.objects.filter(closed_at__isnull=True, **lookup).annotate(
        has_pass=Exists(TimePass.objects.filter(account=OuterRef("pk"))),
        has_wallet=Exists(CreditWallet.objects.filter(account=OuterRef("pk"))),
        spend_cap=spend_cap_of(OuterRef("pk")),
    )


class AccountRow(NamedTuple):
    """What a policy is made of from the account's own row (open_accounts)."""

    pk: int
    plan_id: int | None
    has_pass: bool
    has_wallet: bool
    spend_cap: Decimal | None


ACCOUNT_ROW_FIELDS = AccountRow._fields


# The two rows a first policy load reads, compiled once per process (core.prepared).
_open_account: PreparedRead[Account] = PreparedRead(
    lambda account_id: open_accounts(pk=account_id)[:1], int
)
_current_subscription: PreparedRead[Subscription] = PreparedRead(
    Subscription.objects.current_of, int
)


def load_policy(account_id: int, now: float) -> AccountPolicy | None:
    """The account's policy: one query for the account (with whether it holds a pass or
    credits), one for its subscription; what comes from the plan alone is cached per plan."""
    account = _open_account.first(account_id)
    if account is None:
        return None
    row = AccountRow(*(getattr(account, name) for name in ACCOUNT_ROW_FIELDS))
    return policy_of(row, _current_subscription.first(account_id), now)


def read_policies(account_ids: list[int], now: float) -> dict[int, AccountPolicy | None]:
    """The policies of these accounts (None: no plan, or no open account): one account's
    through load_policy's prepared reads; more in two queries for the whole batch, the
    accounts' as plain rows (a model instance each was a third of a batch's reload)."""
    if len(account_ids) == 1:
        return {account_ids[0]: load_policy(account_ids[0], now)}
    current: dict[int, Subscription] = {}
    live = Subscription.objects.filter(account_id__in=account_ids).live()
    for subscription in live.order_by("account_id", "-started_at", "-stripe_id"):
        current.setdefault(subscription.account_id, subscription)  # current_of's row
    policies: dict[int, AccountPolicy | None] = dict.fromkeys(account_ids)
    for row in open_accounts(pk__in=account_ids).values_list(*ACCOUNT_ROW_FIELDS):
        account = AccountRow._make(row)
        policies[account.pk] = policy_of(account, current.get(account.pk), now)
    return policies


def reload_policies(account_ids: list[int]) -> list[tuple[int, Reload[AccountPolicy | None]]]:
    """The policies of accounts due for a refresh (core.refresh): the accounts found with a
    plan; the others are dropped and loaded by their next call."""
    return [
        (account_id, (policy, policy.expires_at, policy.refresh_at))
        for account_id, policy in read_policies(account_ids, time.time()).items()
        if policy is not None
    ]


def policy_of(
    account: AccountRow, subscription: Subscription | None, now: float
) -> AccountPolicy | None:
    """The policy of an account row (open_accounts) with its current subscription, if any."""
    # A pass or credits, for an account without a subscription (credits.terms).
    prepaid = None
    if account.has_pass or account.has_wallet:
        prepaid = prepaid_terms(account.pk, account.plan_id, datetime.fromtimestamp(now, UTC))
    if prepaid is not None:
        plan: Plan | None = prepaid.plan
    else:
        plan = plans.plan(account.plan_id) if account.plan_id else plans.default()
    if plan is None:
        return None
    standing = standing_of(subscription, datetime.now(UTC))
    if prepaid is not None and prepaid.period is not None:
        standing = Standing(*prepaid.period, payment_required=False)
    terms = plans.terms(plan)
    # The plan's quota, or the spend cap (annotated by open_accounts).
    per_period, hard_cap = period_limit(plan, account.spend_cap)
    expires_at, refresh_at = expiry(standing.changes_at)
    return AccountPolicy(
        account_id=account.pk,
        plan_slug=plan.slug,
        live=shared_limits(
            _limit(plan.requests_per_second),
            _limit(plan.requests_per_minute),
            _limit(per_period),
            hard_cap,
        ),
        test=test_key_limits(),
        entitlements=terms.entitlements,
        period_start=standing.period_start.timestamp(),
        period_end=standing.period_end.timestamp(),
        payment_required=standing.payment_required,
        expires_at=expires_at,
        refresh_at=refresh_at,
        credits=prepaid is not None and prepaid.credits,
        pass_expired=prepaid is not None and prepaid.pass_expired,
        features=terms.features,
        features_digest=terms.features_digest,
    )


@dataclass(frozen=True, slots=True)
class PlanTerms:
    """What a policy takes from its plan alone, shared by every account on the plan."""

    entitlements: dict[str, Entitlement]  # read-only, as the policies holding it
    features: dict[str, bool | int]
    features_digest: str  # changes with the features: part of the token cache's key


def read_terms(plan: Plan) -> PlanTerms:
    # Three columns, not the joined rows: building the query is most of its cost.
    entitlements = {
        slug: Entitlement(tuple(m.upper() for m in methods), tuple(prefixes))
        for slug, methods, prefixes in plan.entitlements.values_list(
            "product__slug", "methods", "path_prefixes"
        )
    }
    features = dict(plan.features)
    digest = hashlib.blake2b(json.dumps(features, sort_keys=True).encode(), digest_size=8)
    return PlanTerms(entitlements, features, digest.hexdigest())


class PlanCache:
    """The plans' ``PlanTerms``, the plans by id and the default plan: the reads every account's
    first policy load repeated (a gateway meeting 100,000 accounts read the same few plans
    100,000 times). In a core.lru.ExpiringLRU, kept as long as a policy
    (GATEWAY_POLICY_TTL_SECONDS) and dropped with the catalog (``gateway.invalidation``); a read
    that raced the drop is not kept (the map's generation), so a plan's change reaches the
    gateway when the policies built from it are dropped too."""

    ENTRIES = 4096  # a catalog has a few dozen plans, each held twice (row and terms)

    def __init__(self) -> None:
        self.entries: ExpiringLRU[Hashable, Any] = ExpiringLRU(self.ENTRIES)

    def clear(self) -> None:
        self.entries.clear()

    def terms(self, plan: Plan) -> PlanTerms:
        return self.cached(("terms", plan.pk), lambda: read_terms(plan))

    def plan(self, plan_id: int) -> Plan | None:
        """An account's own plan, by id."""
        return self.cached(("plan", plan_id), lambda: Plan.objects.filter(pk=plan_id).first())

    def default(self) -> Plan | None:
        """The plan of an account with no plan of its own (Account.effective_plan)."""
        return self.cached("default", lambda: Plan.objects.filter(is_default=True).first())

    def cached(self, key: Hashable, read: Callable[[], T]) -> T:
        """The value under ``key``, or what ``read`` returns, kept. ``read`` must build its query
        only when called: a bound ``QuerySet.first`` is a query built on every hit, which was
        three fifths of a policy's reload."""
        hit, value = self.entries.get(key)
        if hit:
            return cast(T, value)
        generation = self.entries.generation
        value = read()
        expires_at = time.monotonic() + settings.GATEWAY_POLICY_TTL_SECONDS
        self.entries.put(key, value, expires_at, generation=generation)
        return value


class PolicyCache:
    """account id → policy (None: no plan, or no such account) in a core.lru.RefreshingLRU of
    at most ``max_entries`` (GATEWAY_POLICY_CACHE_ENTRIES).

    An entry lives GATEWAY_POLICY_TTL_SECONDS (less up to a fifth, so the policies loaded
    together, at start-up or after an invalidation of everything, are not all reloaded in the
    same second), or until its standing changes by itself (``Standing.changes_at``: the end of
    a payment grace), whichever comes first; and until an invalidation drops it. A load that
    read the database before an invalidation arrived does not store what it read. A policy
    used in the last two fifths of its TTL is reloaded in the background (core.refresh), so an
    account that calls at least once in every fifth of it never waits for the database; one that
    expires with a change of standing is not, as an early reload would read the same standing
    again.
    """

    def __init__(self, max_entries: int) -> None:
        self.entries: RefreshingLRU[int, AccountPolicy | None] = RefreshingLRU(max_entries)
        self.refresher = Refresher("policies", self.entries, reload_policies)
        self.first_loads = FirstLoads("policies", self.load)

    def get(self, account_id: int, now: float) -> AccountPolicy | None:
        hit, policy = self.entries.get(account_id)
        if hit and (policy is None or policy.period_start <= now < policy.period_end):
            return policy
        return self.first_loads.get(account_id, lambda: self.load([account_id], now)[account_id])

    def load(
        self, account_ids: list[int], now: float | None = None
    ) -> dict[int, AccountPolicy | None]:
        """First loads (core.first_loads; a batch's at the time it is read): the policies
        read, and cached unless an invalidation came meanwhile (each due for its first reload
        sooner than a reload is: core.refresh.sooner)."""
        generation = self.entries.generation
        policies = read_policies(account_ids, time.time() if now is None else now)
        for account_id, policy in policies.items():
            expires_at = (
                policy.expires_at
                if policy
                else time.monotonic() + settings.GATEWAY_POLICY_TTL_SECONDS
            )
            refresh_at = refresh.sooner(policy.refresh_at) if policy else None
            self.entries.put(
                account_id, policy, expires_at, generation=generation, refresh_at=refresh_at
            )
        return policies

    def forget(self, account_id: int) -> None:
        self.entries.forget(account_id)

    def clear(self) -> None:
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self.entries


def expiry(changes_at: datetime | None) -> tuple[float, float | None]:
    """When a policy loaded now must be loaded again, and when it is reloaded in the background
    if still in use (monotonic clock): see PolicyCache."""
    now = time.monotonic()
    ttl = settings.GATEWAY_POLICY_TTL_SECONDS * random.uniform(0.8, 1.0)
    if changes_at is not None and changes_at.timestamp() - time.time() < ttl:
        return now + max(0.0, changes_at.timestamp() - time.time()), None
    return now + ttl, refresh.refresh_at(now, ttl)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An operation as the gateway counts it: its usage group, cost and own rate limits."""

    group: str  # "GET /items/{id}": the usage pages' endpoint group
    cost: int = 1  # units of quota one call takes
    per_second: int = NO_LIMIT  # its own limits, in calls, on top of the plan's
    per_minute: int = NO_LIMIT
    window_id: str = ""  # names its rate windows in Redis (stable across catalog changes)

    @property
    def is_limited(self) -> bool:
        return self.per_second != NO_LIMIT or self.per_minute != NO_LIMIT


OTHER = Endpoint("other")  # bounded: unknown paths never create new counters


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]  # the template, exactly (case-sensitive)
    lenient: re.Pattern[str]  # the template in any letter case
    endpoint: Endpoint


@dataclass(frozen=True, slots=True)
class Product:
    slug: str
    path_prefix: str
    # The OpenAPI spec's operations and the catalog's, most specific first (compile_endpoints).
    routes: tuple[Route, ...] = ()
    # Whether any route costs more than 1 or has limits of its own: only then are the lenient
    # readings of a path worth the extra scans.
    priced: bool = False
    # Whether every template is in lower case: then a lower-case path reads the same in any
    # case, and a GET of one without a trailing slash needs no lenient reading at all.
    lowercase: bool = True

    def endpoint_group(self, method: str, path: str) -> str:
        """The OpenAPI operation a call belongs to, e.g. "GET /items/{id}" (for usage)."""
        return self.endpoint_for(method, path).group

    def endpoint_for(self, method: str, path: str) -> Endpoint:
        """The operation a call is counted and charged as.

        The path is canonical (catalog.paths), but upstreams still read some canonical paths
        alike that differ here: many route in any letter case, ignore a trailing slash, or serve
        HEAD with the GET handler. So beside the exact reading, a priced product reads the path
        as such an upstream would, and the call is charged as the costliest operation any of
        the readings reaches (each reading takes its most specific match, as upstreams route):
        no spelling reaches an expensive operation at a cheap operation's price.
        """
        relative = "/" + path[len(self.path_prefix) :].lstrip("/")
        exact = self._first((method,), relative)
        if not self.priced:
            return exact
        trimmed = relative.rstrip("/") or "/"
        if (
            trimmed == relative
            and method != "HEAD"
            and self.lowercase
            and relative == relative.lower()
        ):
            return exact  # every reading is the exact one (the usual call: no extra scan)
        lenient_methods = (method, "GET") if method == "HEAD" else (method,)
        best = exact
        for candidate in (
            self._first(lenient_methods, trimmed),
            self._first(lenient_methods, trimmed, lenient=True),
        ):
            if (candidate.cost, candidate.is_limited) > (best.cost, best.is_limited):
                best = candidate
        return best

    def _first(self, methods: tuple[str, ...], relative: str, lenient: bool = False) -> Endpoint:
        for route in self.routes:
            if route.method in methods:
                pattern = route.lenient if lenient else route.pattern
                if pattern.fullmatch(relative):
                    return route.endpoint
        return OTHER


_PARAMETER = re.compile(r"(\{[^}/]+\})")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def template_regex(template: str, flags: int = 0) -> re.Pattern[str]:
    parts = _PARAMETER.split(template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts), flags)


def lowered_template(template: str) -> str:
    return template.lower().rstrip("/") or "/"


def window_id(group: str) -> str:
    return hashlib.blake2b(group.encode(), digest_size=6).hexdigest()


def compile_endpoints(spec: dict[str, Any] | None, operations: object = ()) -> tuple[Route, ...]:
    """The product's routing table, compiled once per catalog load (never per call): the
    spec's operations, with the catalog's cost and limits where they name the same operation
    (in any letter case), and the catalog's operations the spec does not list."""
    priced = {(op.method, lowered_template(op.path)): op for op in operations_of(operations)}
    templates: dict[tuple[str, str], str] = {}
    for template, methods in ((spec or {}).get("paths") or {}).items():
        for method in methods:
            if method.lower() in HTTP_METHODS:
                templates.setdefault((method.upper(), lowered_template(template)), template)
    for (method, lowered), operation in priced.items():
        templates.setdefault((method, lowered), operation.path)
    routes = []
    for (method, lowered), template in templates.items():
        group = f"{method} {template}"
        op = priced.get((method, lowered))
        endpoint = Endpoint(group)
        if op is not None:
            endpoint = Endpoint(
                group, op.cost, _limit(op.requests_per_second), _limit(op.requests_per_minute),
                window_id(group),
            )  # fmt: skip
        lenient = template.rstrip("/") or "/"
        routes.append(
            Route(method, template_regex(template), template_regex(lenient, re.IGNORECASE),
                  endpoint)
        )  # fmt: skip
    # Literal segments before parameters: "/items/new" wins over "/items/{id}".
    routes.sort(key=lambda r: (r.endpoint.group.count("{"), -len(r.endpoint.group)))
    return tuple(routes)


def product_of(row: ApiProduct) -> Product:
    routes = compile_endpoints(row.openapi_spec, row.operations)
    priced = any(r.endpoint.cost != 1 or r.endpoint.is_limited for r in routes)
    lowercase = all(r.pattern.pattern == r.pattern.pattern.lower() for r in routes)
    return Product(row.slug, row.path_prefix, routes, priced, lowercase)


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
        rows = ApiProduct.objects.only("slug", "path_prefix", "openapi_spec", "operations")
        products = tuple(sorted(map(product_of, rows), key=lambda p: -len(p.path_prefix)))
        self._products = products
        self._expires_at = time.monotonic() + settings.GATEWAY_POLICY_TTL_SECONDS
        return products

    def clear(self) -> None:
        self._products = None


policies = PolicyCache(settings.GATEWAY_POLICY_CACHE_ENTRIES)
plans = PlanCache()
catalog = Catalog()
