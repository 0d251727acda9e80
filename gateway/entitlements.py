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
from gateway.policy import AccountPolicy, Product
from gateway.signing import keys

HEADER = "Tollgate-Entitlements"
ALGORITHM = "EdDSA"

# Tokens held per key (KeyRecord.tokens), by what else a claim is made of: beyond this many
# (many products called with one key, plan or catalog changes, rotations), those past their
# renewal are dropped, or all of them.
TOKENS_PER_KEY = 16


def claims(record: KeyRecord, policy: AccountPolicy, product: Product, now: int) -> dict[str, Any]:
    return {
        "iss": settings.SITE_URL,
        "aud": product.slug,
        "sub": str(record.account_id),
        "key": record.key_id,
        "plan": policy.plan_slug,
        "env": record.environment,
        "features": policy.features,
        "iat": now,
        "exp": now + settings.ENTITLEMENT_TOKEN_SECONDS,
    }


def renew_at(issued: int, first: bool = False) -> float:
    """When a token issued at ``issued`` (unix seconds) is signed again: by half its lifetime,
    so the upstream always receives one with at least half its lifetime left; the first of its
    cache key from a fifth of it on, so that the tokens of keys first called together spread
    (at the cost of one early signing per key and process)."""
    earliest = 0.2 if first else 0.4
    return issued + settings.ENTITLEMENT_TOKEN_SECONDS * random.uniform(earliest, 0.5)


def token_for(record: KeyRecord, policy: AccountPolicy, product: Product, now: float) -> str:
    """The call's token: held with the key's record, and renewed before half its lifetime is
    gone (renew_at). The record is the key's, account's and environment's; the rest of the
    claims are in the token's name (the features through the policy's digest)."""
    ring = keys.ring()
    tokens, renewals = record.tokens, record.renewals
    name = f"{policy.plan_slug} {policy.features_digest} {product.slug} {ring.kid}"
    renewal = renewals.get(name)
    if renewal is not None and now < renewal:
        return tokens[name]
    issued = int(now)
    token = jwt.encode(
        claims(record, policy, product, issued),
        ring.private,
        algorithm=ALGORITHM,
        headers={"kid": ring.kid},
    )
    if renewal is None and len(tokens) >= TOKENS_PER_KEY:
        # A renewal goes before its token and comes after it: a decision on another thread
        # that finds a renewal finds its token.
        for stale in [n for n, due in renewals.items() if due <= now]:
            del renewals[stale], tokens[stale]
        if len(tokens) >= TOKENS_PER_KEY:
            renewals.clear()
            tokens.clear()
    tokens[name] = token
    renewals[name] = renew_at(issued, first=renewal is None)
    return token


def clear() -> None:
    """Forget every token: they are held with the key records, which are forgotten with them
    (and read again on their next call)."""
    records.cache.clear()
