"""The auth_request decision, as small functions taken in order (architecture.md, "hot path").

Each step either returns a ``Decision`` (a refusal) or lets the next one run; only the last
step, counting, touches Redis. A ``Decision`` is what the WSGI callable sends to nginx: 204 with
identity and limit headers, 401, or 403 with ``X-Deny-Reason`` and maybe ``Retry-After``.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import redis
from django.conf import settings

from apikeys import records
from apikeys.records import KeyRecord
from apikeys.unknown_keys import TooManyUnknownKeys
from catalog import paths
from core import redis_keys
from core.redis_keys import endpoint_window_keys
from credits import balance as credits_balance
from gateway import counting, entitlements, leasing, tallying
from gateway.models import UncountedCall
from gateway.policy import NO_LIMIT, AccountPolicy, Endpoint, Limits, Product, catalog, policies

log = logging.getLogger(__name__)


class Call(NamedTuple):
    """One call nginx asks about (a NamedTuple: immutable, and made per call at a third of a
    frozen dataclass's cost)."""

    raw_key: str
    method: str
    path: str  # canonical (catalog.paths), or "" when the request target is not
    client_ip: str
    routed_product: str  # the product whose location nginx chose (X-Gateway-Product)


@dataclass(slots=True)
class Decision:
    status: int
    reason: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def admitted(self) -> bool:
        return self.status == 204


def refuse(status: int, reason: str, retry_after: float | None = None) -> Decision:
    headers = [("X-Deny-Reason", reason)]
    if retry_after is not None:
        headers.append(("Retry-After", str(max(1, math.ceil(retry_after)))))
    return Decision(status, reason, headers)


# HTTP's optional whitespace around a value; str.strip() would also take control bytes (\x0b,
# \x1c-\x1f) off a key, admitting a spelling that is not the key.
OWS = " \t"


def call_from_environ(environ: dict[str, Any]) -> Call:
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = authorization.partition(" ")
    raw_key = token.strip(OWS) if scheme.lower() == "bearer" else ""
    return Call(
        raw_key=raw_key or environ.get("HTTP_X_API_KEY", "").strip(OWS),
        method=environ.get("HTTP_X_ORIGINAL_METHOD", "GET").upper(),
        path=paths.request_path(environ.get("HTTP_X_ORIGINAL_URI", "")) or "",
        client_ip=environ.get("HTTP_X_REAL_IP", ""),
        routed_product=environ.get("HTTP_X_GATEWAY_PRODUCT", ""),
    )


def ip_allowed(record: KeyRecord, client_ip: str) -> bool:
    if not record.allowed_networks:
        return True
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return False
    return any(address in network for network in record.allowed_networks)


def key_allows(record: KeyRecord, product: Product, call: Call) -> bool:
    prefixes = record.allowed_path_prefixes
    return (
        (not record.allowed_products or product.slug in record.allowed_products)
        and (not record.allowed_methods or call.method in record.allowed_methods)
        and (not prefixes or paths.under_any(call.path, prefixes))
    )


def plan_allows(policy: AccountPolicy, product: Product, call: Call) -> bool:
    entitlement = policy.entitlements.get(product.slug)
    return entitlement is not None and entitlement.allows(call.method, call.path)


def routed_alike(product: Product, call: Call) -> bool:
    """nginx chose the same product's location as the catalog does: anything else is a stale
    nginx config (re-run gateway_config) or a path nginx read otherwise, and is refused."""
    if product.slug == call.routed_product:
        return True
    log.warning("gateway: nginx routed %s to %r, the catalog to %r; run gateway_config",
                call.path, call.routed_product, product.slug)  # fmt: skip
    return False


def decide(call: Call, now: float) -> Decision:
    if not call.path:
        # Before any lookup or count: a target with more than one meaning is judged by no one.
        return refuse(403, "invalid_path")
    if not call.raw_key:
        return refuse(401, "missing_key")
    try:  # None for malformed (no I/O) or unknown keys
        record = records.lookup(call.raw_key, call.client_ip)
    except TooManyUnknownKeys as spent:  # forging keys, most likely: no query for this one
        return refuse(403, "rate_limited", spent.retry_after)
    if record is None:
        return refuse(401, "invalid_key")
    product = catalog.product_for(call.path)
    if not record.is_usable_at(now):
        return counted(refuse(401, "inactive_key"), call, record, product, now)
    if not ip_allowed(record, call.client_ip):
        return counted(refuse(403, "ip_not_allowed"), call, record, product, now)
    policy = policies.get(record.account_id, now)
    if product is None or policy is None or not routed_alike(product, call):
        return counted(refuse(403, "forbidden"), call, record, product, now)
    if not (plan_allows(policy, product, call) and key_allows(record, product, call)):
        return counted(refuse(403, "forbidden"), call, record, product, now)
    if policy.payment_required and record.environment == "live":
        return counted(refuse(403, "payment_required"), call, record, product, now)
    if policy.pass_expired and record.environment == "live":
        return counted(refuse(403, "pass_expired"), call, record, product, now)
    return count(call, record, policy, product, now)


def counted(
    refusal: Decision, call: Call, record: KeyRecord, product: Product | None, now: float
) -> Decision:
    """A refusal of a known key, counted in the usage hash under its reason (one round trip,
    like an admitted call's) so the customer and the seller see it by key and endpoint.

    The decision's own count, at the moment it is made, is exact: the access log would need
    parsing and could be rotated away before the collector reads it. Redis being down turns
    no refusal into a 503: the call is refused all the same, only not counted.
    """
    group = product.endpoint_group(call.method, call.path) if product else ""
    field = f"{record.key_id}|{product.slug if product else ''}|{group}|{refusal.reason}"
    try:
        counting.count_refusal(record.account_id, record.environment, now, field)
    except (redis.ConnectionError, redis.TimeoutError):
        log.warning("gateway: Redis unreachable, a %s refusal was not counted", refusal.reason)
    return identified(refusal, record)


def identified(refusal: Decision, record: KeyRecord) -> Decision:
    """Whose call was refused, for nginx's access log (the request log); not sent to clients."""
    refusal.headers += [("X-Consumer-Id", str(record.account_id)), ("X-Key-Id", record.key_id)]
    return refusal


def identity_headers(record: KeyRecord, policy: AccountPolicy) -> list[tuple[str, str]]:
    return [
        ("X-Consumer-Id", str(record.account_id)),
        ("X-Key-Id", record.key_id),
        ("X-Plan", policy.plan_slug),
        ("X-Environment", record.environment),
    ]


def count(
    call: Call, record: KeyRecord, policy: AccountPolicy, product: Product, now: float
) -> Decision:
    limits = policy.limits_for(record.environment)
    endpoint = product.endpoint_for(call.method, call.path)
    group = endpoint.group
    keys = counting.counter_keys(record.account_id, record.environment, now, policy.period_start)
    quota_ttl = int(policy.period_end - now) + counting.QUOTA_TTL_MARGIN_SECONDS
    windows = None
    if endpoint.is_limited:
        second_key, minute_key = endpoint_window_keys(
            record.account_id, record.environment, endpoint.window_id
        )
        windows = ((second_key, endpoint.per_second), (minute_key, endpoint.per_minute))
    spends = policy.credits and record.environment == "live"  # test keys are never billed
    credits_key = redis_keys.credits_key(record.account_id) if spends else None
    # Before counting: a token that cannot be signed (an unreadable key) fails the decision
    # (503) with nothing counted. Almost always a lookup in the token cache.
    token = entitlements.token_for(record, policy, product, now)
    usage_field = f"{record.key_id}|{product.slug}|{group}"
    tallies = tallying.current()
    if tallies is not None:
        if tallying.unbounded(limits) and not (windows or spends):
            # Nothing to refuse it: admitted here, counted with the next tick's batch.
            tallies.add(record.account_id, keys, usage_field, endpoint.cost, quota_ttl)
            return admitted(record, policy, group, token, limits, endpoint, tallying.UNCOUNTED)
        tallies.before_counting(record.account_id)
    # A busy account's call is admitted here on its lease when it has one (gateway/leasing.py).
    leases = leasing.current() if endpoint.cost == 1 and not (windows or spends) else None
    holding, want, now_ms = None, 0, int(now * 1000)
    if leases is not None:
        span, offset = leasing.term_of(limits, record.account_id)
        term = (now_ms + offset) // span
        holding = leases.holding(record.account_id, record.environment)
        holding.note(term, span)
        spent = holding.spend(term, keys, limits, usage_field, now_ms)
        if spent is not None:
            return admitted(record, policy, group, token, limits, endpoint, spent)
        want = holding.want(leases.cap)
        if want:
            holding.asking = True

    def check() -> counting.Count:
        return counting.check_and_count(
            keys, limits, usage_field, quota_ttl, now,
            cost=endpoint.cost, endpoint_windows=windows, credits_key=credits_key, want=want,
        )  # fmt: skip

    try:
        result = check()
        if result.outcome == "credits_unknown":
            # A first purchase not yet in Redis, or a Redis that lost its data: the ledger says.
            credits_balance.seed(record.account_id)
            result = check()
    except (redis.ConnectionError, redis.TimeoutError):
        if spends:  # no balance to check: admitting would give calls away
            return refuse(403, "unavailable", 1)
        return redis_down(record, policy, product, endpoint, token, now)
    finally:
        if want:
            assert holding is not None
            holding.asking = False
    if result.leased:
        assert leases is not None and holding is not None
        ends_ms = (term + 1) * span - offset
        result = leases.granted(holding, result, keys, limits, term, span, ends_ms, now_ms)
    refusing = RATE_WINDOWS.get(result.outcome)
    if refusing is not None:
        window = getattr(result, refusing)
        denied = identified(refuse(403, "rate_limited", window.retry_ms / 1000), record)
        return with_limits(denied, limits, endpoint, result, refusing)
    if result.outcome == "quota_exceeded":
        denied = identified(refuse(403, "quota_exceeded", policy.period_end - now), record)
        return with_limits(denied, limits, endpoint, result)
    if result.outcome in ("credits_exhausted", "credits_unknown"):
        denied = identified(refuse(403, "credits_exhausted"), record)
        return with_limits(denied, limits, endpoint, result)
    return admitted(record, policy, group, token, limits, endpoint, result)


def admitted(
    record: KeyRecord,
    policy: AccountPolicy,
    group: str,
    token: str,
    limits: Limits,
    endpoint: Endpoint,
    result: counting.Count,
) -> Decision:
    # The endpoint group is for nginx's access log (the usage collector); not sent to clients.
    decision = Decision(
        204,
        headers=[
            *identity_headers(record, policy),
            ("X-Endpoint-Group", group),
            (entitlements.HEADER, token),
        ],
    )
    return with_limits(decision, limits, endpoint, result)


# The script's outcome for a full rolling window, and the window in its answer.
RATE_WINDOWS = {
    "rate_limited_second": "second",
    "rate_limited_minute": "minute",
    "rate_limited_endpoint_second": "endpoint_second",
    "rate_limited_endpoint_minute": "endpoint_minute",
}


def described_window(
    limits: Limits, endpoint: Endpoint, result: counting.Count, refusing: str | None
) -> tuple[int, counting.Window] | None:
    """The window RateLimit-* describe: the one that refused the call, else the one closest to
    refusing the next (the plan's or the endpoint's; each its minute, else its second)."""
    plan = endpoint_window = None
    if limits.per_minute != NO_LIMIT:
        plan = (limits.per_minute, result.minute)
    elif limits.per_second != NO_LIMIT:
        plan = (limits.per_second, result.second)
    if endpoint.per_minute != NO_LIMIT:
        endpoint_window = (endpoint.per_minute, result.endpoint_minute)
    elif endpoint.per_second != NO_LIMIT:
        endpoint_window = (endpoint.per_second, result.endpoint_second)
    if refusing is not None:
        limit = {
            "second": limits.per_second, "minute": limits.per_minute,
            "endpoint_second": endpoint.per_second, "endpoint_minute": endpoint.per_minute,
        }[refusing]  # fmt: skip
        return limit, getattr(result, refusing)
    if plan is None or endpoint_window is None:
        return plan or endpoint_window
    remaining = (plan[0] - plan[1].used, endpoint_window[0] - endpoint_window[1].used)
    return endpoint_window if remaining[1] < remaining[0] else plan


def with_limits(
    decision: Decision,
    limits: Limits,
    endpoint: Endpoint,
    result: counting.Count,
    refusing: str | None = None,
) -> Decision:
    """RateLimit-* describe one rolling window (described_window): Reset is the whole seconds
    until the oldest call counted in it leaves it, so Remaining grows then (0 when the window
    holds no call). X-Quota-* are in units: a weighted call takes its cost."""
    window = described_window(limits, endpoint, result, refusing)
    if window is not None:
        limit, counted = window
        decision.headers += [
            ("RateLimit-Limit", str(limit)),
            ("RateLimit-Remaining", str(max(0, limit - counted.used))),
            ("RateLimit-Reset", str(math.ceil(counted.reset_ms / 1000))),
        ]
    if limits.per_period != NO_LIMIT:
        decision.headers += [
            ("X-Quota-Limit", str(limits.per_period)),
            ("X-Quota-Remaining", str(max(0, limits.per_period - result.period))),
        ]
    if result.credits >= 0:  # the call spends prepaid credits: the units left after it
        decision.headers.append(("X-Credits-Remaining", str(result.credits)))
    return decision


def redis_down(
    record: KeyRecord,
    policy: AccountPolicy,
    product: Product,
    endpoint: Endpoint,
    token: str,
    now: float,
) -> Decision:
    """GATEWAY_ON_REDIS_DOWN: deny (nginx answers 503), or admit and record the call durably."""
    log.warning("gateway: Redis unreachable, %s the call", settings.GATEWAY_ON_REDIS_DOWN)
    if settings.GATEWAY_ON_REDIS_DOWN != "allow":
        return refuse(403, "unavailable", 1)
    UncountedCall.objects.create(
        account_id=record.account_id,
        key_id=record.key_id,
        environment=record.environment,
        product=product.slug,
        endpoint_group=endpoint.group,
        units=endpoint.cost,
        admitted_at=datetime.fromtimestamp(now, UTC),
    )
    return Decision(204, headers=[*identity_headers(record, policy), (entitlements.HEADER, token)])
