"""Token renewals signed by the auth process's signing process (gateway/renewing.py): the calls
keep the held token until the signer's answer or the grace bound, never past half a lifetime."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from types import SimpleNamespace

import jwt
import pytest

from apikeys.records import KeyRecord
from gateway import entitlements, renewing
from gateway.signing import keys

pytestmark = pytest.mark.usefixtures("signing_key")

POLICY = SimpleNamespace(plan_slug="pro", features_digest="f1", features={"insights": True})
PRODUCT = SimpleNamespace(slug="demo")


def a_record() -> KeyRecord:
    return KeyRecord("key_1", 42, "live", "active", None, None, (), (), (), ())


def claims_of(token: str) -> dict:
    public = jwt.PyJWK(keys.ring().jwks["keys"][0])
    return jwt.decode(token, public, algorithms=["EdDSA"], audience="demo")


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture
def renewer(loop, monkeypatch):
    renewer = renewing.Renewer(loop)
    # As on the auth server's loop, where decisions find it (renewing.current).
    monkeypatch.setattr(renewing, "current", lambda: renewer if renewer.alive else None)
    yield renewer
    renewer.close()


def run_until(loop, done, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the signer did not answer"
        loop.run_until_complete(asyncio.sleep(0.01))


def test_a_token_past_its_point_is_served_while_the_signer_renews_it(renewer, loop, settings):
    life = settings.ENTITLEMENT_TOKEN_SECONDS
    record = a_record()
    then = int(time.time()) - 100
    first = entitlements.token_for(record, POLICY, PRODUCT, then)  # signed by the call
    (name,) = record.renewals
    point = record.renewals[name]
    assert then + 0.2 * life <= point <= then + (0.5 - renewing.GRACE_SHARE) * life

    # Past the point: the same token, the renewal queued once however many calls ask.
    for later in (point + 0.1, point + 0.2, point + 0.3):
        assert entitlements.token_for(record, POLICY, PRODUCT, later) == first
    assert len(renewer.waiting) == 1 and renewer.renewed == 0

    renewer.send()  # the loop's tick
    run_until(loop, lambda: renewer.renewed == 1)
    renewed = record.tokens[name]
    claims = claims_of(renewed)
    assert renewed != first and claims["sub"] == "42" and claims["plan"] == "pro"
    assert claims["exp"] - claims["iat"] == life and abs(claims["iat"] - time.time()) <= 2
    assert claims["iat"] + 0.4 * life <= record.renewals[name] <= claims["iat"] + 0.47 * life
    assert not renewer.queued and not renewer.sent


def test_past_the_grace_bound_a_call_signs_for_itself_queued_or_not(renewer, settings):
    life = settings.ENTITLEMENT_TOKEN_SECONDS
    record = a_record()
    first = entitlements.token_for(record, POLICY, PRODUCT, time.time())
    (name,) = record.renewals
    point = record.renewals[name]
    issued = claims_of(first)["iat"]
    assert entitlements.token_for(record, POLICY, PRODUCT, point + 0.1) == first
    assert len(renewer.waiting) == 1  # queued, and the signer never asked (no tick)

    bound = point + renewing.GRACE_SHARE * life
    assert bound <= issued + life / 2  # what the upstream is promised
    own = entitlements.token_for(record, POLICY, PRODUCT, bound + 1)
    assert own != first and jwt.decode(own, options={"verify_signature": False})["iat"] == int(
        bound + 1
    )


def test_a_token_long_past_its_point_is_signed_by_the_call_not_queued(renewer, settings):
    """A key called again only after its token's grace bound: nothing stale is served."""
    record = a_record()
    first = entitlements.token_for(record, POLICY, PRODUCT, time.time())
    (name,) = record.renewals
    late = record.renewals[name] + settings.ENTITLEMENT_TOKEN_SECONDS * 0.4
    assert entitlements.token_for(record, POLICY, PRODUCT, late) != first
    assert not renewer.waiting


def test_a_renewal_under_a_rotated_key_is_left_to_the_calls(renewer, loop, settings, tmp_path):
    record = a_record()
    entitlements.token_for(record, POLICY, PRODUCT, time.time())
    (name,) = record.renewals
    held = dict(record.tokens)
    # Queued under a key the signer does not hold (rotated since): it answers None.
    renewer.renew(record, name, {"aud": "demo"}, settings.ENTITLEMENT_TOKEN_SECONDS, "old-kid")
    renewer.send()
    run_until(loop, lambda: not renewer.queued)
    assert record.tokens == held and renewer.renewed == 0


def test_a_dead_signer_leaves_signing_to_the_calls(renewer, loop, caplog):
    record = a_record()
    first = entitlements.token_for(record, POLICY, PRODUCT, time.time())
    (name,) = record.renewals
    os.kill(renewer.process.pid, signal.SIGKILL)
    run_until(loop, lambda: not renewer.alive)
    assert "the token signer stopped" in caplog.text
    point = record.renewals[name]
    renewed = entitlements.token_for(record, POLICY, PRODUCT, point + 0.1)  # signed by the call
    assert renewed != first and not renewer.waiting


def test_the_signer_exits_when_its_auth_process_is_gone(loop):
    renewer = renewing.Renewer(loop)
    try:
        assert renewer.process.is_alive()
        # What the auth process's death does to the pipe (even by SIGKILL): its end closes.
        loop.remove_reader(renewer.connection.fileno())
        renewer.connection.close()
        renewer.process.join(10)
        assert renewer.process.exitcode == 0
    finally:
        renewer.connection = None
        renewer.close()
