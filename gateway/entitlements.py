"""The entitlement token: what nginx tells the upstream about an admitted call, signed.

A JWT (EdDSA, Ed25519; keys in gateway.signing, public halves at ``/.well-known/jwks.json``)
that the decision returns in ``Tollgate-Entitlements`` and nginx forwards to the upstream in
place of anything the client sent under that name. Claims (docs/entitlements.md):

    iss       SITE_URL: who signed it
    aud       the product's slug: one product's upstream cannot replay it to another's
    sub       the account's id (as a string, as JWT wants)
    key       the API key's public id
    plan      the plan's slug
    env       "live" or "test"
    features  the plan's named features: {"insights": true, "report_rows": 100}
    iat, exp  issued now, valid ENTITLEMENT_TOKEN_SECONDS

Nothing of the request itself (path, address, time of the call) is in it: the same token serves
every call of a key on a product until it is renewed, so signing (about 60 µs) happens once per
key, product and half lifetime, never per call. Each token is renewed at a point drawn between
40% and half of its lifetime (``renew_at``), a key's first between 20% and half: the tokens of
keys first called together (a start, a deploy) would otherwise all be signed again in the same
seconds, every half lifetime (bench (j): their waves, with the caches' reloads, took the auth
server's CPU per call from 65 µs to 80-112 µs for two minutes). Tokens are held with the key's
record (``KeyRecord.tokens``), each under everything else a claim is made of (the plan, the
features through the policy's digest, the product) and the signing key's id, so a plan change,
a catalog change or a key rotation each gets a fresh token at once; a revoked key's go with
its record.
"""

from __future__ import annotations

import random
from typing import Any

import jwt
from django.conf import settings

from apikeys import records
from apikeys.records import KeyRecord
from gateway import renewing
from gateway.policy import AccountPolicy, Product
from gateway.signing import KeyRing, keys

HEADER = "Tollgate-Entitlements"
ALGORITHM = "EdDSA"

# Tokens held per key (KeyRecord.tokens), by what else a claim is made of: beyond this many
# (many products called with one key, plan or catalog changes, rotations), those past their
# renewal are dropped, or all of them.
TOKENS_PER_KEY = 16


def claims(record: KeyRecord, policy: AccountPolicy, product: Product) -> dict[str, Any]:
    """A token's claims but its times (``signed`` adds them)."""
    return {
        "iss": settings.SITE_URL,
        "aud": product.slug,
        "sub": str(record.account_id),
        "key": record.key_id,
        "plan": policy.plan_slug,
        "env": record.environment,
        "features": policy.features,
    }


def signed(claims: dict[str, Any], issued: int, lifetime: int, ring: KeyRing) -> str:
    timed = {**claims, "iat": issued, "exp": issued + lifetime}
    return jwt.encode(timed, ring.private, algorithm=ALGORITHM, headers={"kid": ring.kid})


def renew_at(issued: int, first: bool = False) -> float:
    """When a token issued at ``issued`` (unix seconds) is signed again: by half its lifetime,
    so the upstream always receives one with at least half its lifetime left, less the grace a
    renewal signed beside the loop may take (gateway.renewing); the first of its cache key from
    a fifth of it on, so that the tokens of keys first called together spread (at the cost of
    one early signing per key and process)."""
    earliest = 0.2 if first else 0.4
    latest = 0.5 - renewing.GRACE_SHARE
    return issued + settings.ENTITLEMENT_TOKEN_SECONDS * random.uniform(earliest, latest)


def token_for(record: KeyRecord, policy: AccountPolicy, product: Product, now: float) -> str:
    """The call's token: held with the key's record, and renewed before half its lifetime is
    gone (renew_at). The record is the key's, account's and environment's; the rest of the
    claims are in the token's name (the features through the policy's digest). On the auth
    server's loop, a token past its renewal point is renewed by the signing process while the
    calls go on with it, until its grace bound (gateway.renewing)."""
    ring = keys.ring()
    tokens, renewals = record.tokens, record.renewals
    name = f"{policy.plan_slug} {policy.features_digest} {product.slug} {ring.kid}"
    renewal = renewals.get(name)
    if renewal is not None and now < renewal:
        return tokens[name]
    lifetime = settings.ENTITLEMENT_TOKEN_SECONDS
    if renewal is not None and now < renewal + lifetime * renewing.GRACE_SHARE:
        renewer = renewing.current()
        if renewer is not None:
            renewer.renew(record, name, claims(record, policy, product), lifetime, ring.kid)
            return tokens[name]
    issued = int(now)
    token = signed(claims(record, policy, product), issued, lifetime, ring)
    if renewal is None and len(tokens) >= TOKENS_PER_KEY:
        # A renewal goes before its token and comes after it: a decision on another thread
        # that finds a renewal finds its token. (The list is made at once: another thread may
        # add to the map meanwhile.)
        for stale in [n for n, due in list(renewals.items()) if due <= now]:
            renewals.pop(stale, None)
            tokens.pop(stale, None)
        if len(tokens) >= TOKENS_PER_KEY:
            renewals.clear()
            tokens.clear()
    store(record, name, token, issued, first=renewal is None)
    return token


def store(record: KeyRecord, name: str, token: str, issued: int, first: bool = False) -> None:
    """A token signed, and its next renewal point, held with the key's record: the token goes
    before its renewal (a decision on another thread that finds a renewal finds its token)."""
    record.tokens[name] = token
    record.renewals[name] = renew_at(issued, first)


def clear() -> None:
    """Forget every token: they are held with the key records, which are forgotten with them
    (and read again on their next call)."""
    records.cache.clear()
