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
35% and 45% of its lifetime (``renew_at``), a key's first between 20% and 45%: the tokens of
keys first called together (a start, a deploy) would otherwise all be signed again in the same
seconds, every half lifetime (bench (j): their waves, with the caches' reloads, took the auth
server's CPU per call from 65 µs to 80-112 µs for two minutes). A renewal is signed on a thread
of its own (``Renewals``) while the calls go on with the token they have; a call that finds it
not renewed by half the lifetime signs it itself, as a key's first call does. Tokens are held
with the key's record (``KeyRecord.tokens``), each under everything else a claim is made of (the
plan, the features through the policy's digest, the product) and the signing key's id, so a
plan change, a catalog change or a key rotation each gets a fresh token at once; a revoked
key's go with its record.
"""

from __future__ import annotations

import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
from django.conf import settings

from apikeys import records
from apikeys.records import KeyRecord
from gateway.policy import AccountPolicy, Product
from gateway.signing import keys

log = logging.getLogger(__name__)

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
    """When a token issued at ``issued`` (unix seconds) is renewed in the background: between
    35% and 45% of its lifetime, and the first of its name from a fifth of it on, so that the
    tokens of keys first called together spread (at the cost of one early signing per key and
    process). Up to DEADLINE_SHARE past that point the calls still get it while the renewal is
    signed; from then on a call signs it itself, so the upstream always receives one with at
    least half its lifetime left."""
    earliest = 0.2 if first else 0.35
    return issued + lifetime() * random.uniform(earliest, 0.45)


# How long past its renewal point (a share of the lifetime) a token is still served while its
# renewal is signed on the renewals thread: to half its lifetime at the latest (renew_at).
DEADLINE_SHARE = 0.05


def lifetime() -> int:
    return settings.ENTITLEMENT_TOKEN_SECONDS


def sign(record: KeyRecord, policy: AccountPolicy, product: Product, issued: int) -> str:
    ring = keys.ring()
    return jwt.encode(
        claims(record, policy, product, issued),
        ring.private,
        algorithm=ALGORITHM,
        headers={"kid": ring.kid},
    )


def token_for(record: KeyRecord, policy: AccountPolicy, product: Product, now: float) -> str:
    """The call's token: held with the key's record, and renewed before half its lifetime is
    gone: in the background from its renewal point (renew_at), by the call itself past it
    (a first token too). The record is the key's, account's and environment's; the rest of the
    claims are in the token's name (the features through the policy's digest)."""
    kid = keys.ring().kid
    tokens, renewals = record.tokens, record.renewals
    name = f"{policy.plan_slug} {policy.features_digest} {product.slug} {kid}"
    renewal = renewals.get(name)
    if renewal is not None:
        if now < renewal:
            return tokens[name]
        # A renewal handed to the renewals thread is noted as its deadline, negated: served
        # until then (the thread writes the new token over it), signed by the call from then.
        deadline = -renewal if renewal < 0 else renewal + DEADLINE_SHARE * lifetime()
        if now < deadline:
            if renewal >= 0:
                renewals[name] = -deadline
                renewing.submit(record, policy, product, name, int(now), deadline)
            return tokens[name]
    issued = int(now)
    token = sign(record, policy, product, issued)
    if renewal is None and len(tokens) >= TOKENS_PER_KEY:
        # A renewal goes before its token and comes after it: a decision on another thread
        # that finds a renewal finds its token. (The items listed at once: the renewals thread
        # may write meanwhile.)
        for stale in [n for n, due in list(renewals.items()) if due <= now]:
            del renewals[stale], tokens[stale]
        if len(tokens) >= TOKENS_PER_KEY:
            renewals.clear()
            tokens.clear()
    tokens[name] = token
    renewals[name] = renew_at(issued, first=renewal is None)
    return token


class Renewals:
    """Tokens past their renewal point, signed again on a thread of their own.

    A renewal signed on the auth server's loop held up every call in flight for its signing
    (~65 µs on a slow VM), hundreds of times a second in a gateway serving 100,000 keys
    (bench (h) and (j): a token per key renewed every two minutes or so). On this thread the
    Ed25519 signature runs outside the GIL, beside the loop, on a core nginx and the loop
    leave idle meanwhile; the loop only hands the renewal over. A renewal that fails (an
    unreadable key) is logged; the calls go on with the token they have until its deadline,
    then sign it themselves (and fail the decision as before).
    """

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # the parent's thread is not ours

    def _reset(self) -> None:
        self._executor: ThreadPoolExecutor | None = None

    def submit(
        self,
        record: KeyRecord,
        policy: AccountPolicy,
        product: Product,
        name: str,
        issued: int,
        deadline: float,
    ) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="token renewals")
        self._executor.submit(self.renew, record, policy, product, name, issued, deadline)

    @staticmethod
    def renew(
        record: KeyRecord,
        policy: AccountPolicy,
        product: Product,
        name: str,
        issued: int,
        deadline: float,
    ) -> None:
        """Sign the renewal handed over with ``deadline``, unless a call has signed it since
        (past the deadline: a thread behind skips what is late instead of adding to it), the
        token was dropped (TOKENS_PER_KEY) or the signing key changed (the calls name a new
        token then)."""
        if record.renewals.get(name) != -deadline or time.time() >= deadline:
            return
        try:
            if not name.endswith(f" {keys.ring().kid}"):
                return
            token = sign(record, policy, product, issued)
        except Exception:
            log.exception("entitlement token: could not renew %s for key %s", name, record.key_id)
            return
        record.tokens[name] = token  # the token before its renewal: see token_for
        record.renewals[name] = renew_at(issued)


renewing = Renewals()


def clear() -> None:
    """Forget every token: they are held with the key records, which are forgotten with them
    (and read again on their next call)."""
    records.cache.clear()
