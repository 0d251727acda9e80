"""The entitlement token the decision hands nginx, the JWKS and key rotation."""

from __future__ import annotations

import os
import time

import jwt
import pytest
from django.core.management import CommandError, call_command

from catalog.models import Plan
from gateway import invalidation
from gateway.entitlements import HEADER
from gateway.signing import PUBLISH_MARGIN_SECONDS, keys, previous_path
from tests.gateway.support import ask, make_key

pytestmark = pytest.mark.usefixtures("redis_db", "free_plan", "signing_key")


def jwks(client) -> dict:
    answer = client.get("/.well-known/jwks.json")
    assert answer.status_code == 200
    assert answer["Cache-Control"] == "public, max-age=60"
    return answer.json()


def verified(token: str, key_set: dict, settings) -> dict:
    kid = jwt.get_unverified_header(token)["kid"]
    (key,) = [jwt.PyJWK(k) for k in key_set["keys"] if k["kid"] == kid]
    return jwt.decode(token, key, algorithms=["EdDSA"], audience="demo", issuer=settings.SITE_URL)


def test_an_admitted_call_carries_a_token_of_its_account_key_plan_and_features(
    team, client, settings
):
    Plan.objects.filter(slug="free").update(features={"insights": True, "report_rows": 7})
    invalidation.apply(invalidation.EVERYTHING)
    raw, key = make_key(team)
    status, headers, _ = ask(raw)
    assert status == 204
    header = jwt.get_unverified_header(headers[HEADER])
    assert (header["alg"], header["typ"]) == ("EdDSA", "JWT")
    claims = verified(headers[HEADER], jwks(client), settings)
    assert claims["sub"] == str(team.pk)
    assert (claims["key"], claims["plan"], claims["env"]) == (key.public_id, "free", "live")
    assert claims["features"] == {"insights": True, "report_rows": 7}
    assert claims["exp"] - claims["iat"] == settings.ENTITLEMENT_TOKEN_SECONDS
    assert raw not in headers[HEADER] and key.key_hash not in headers[HEADER]


def test_refusals_carry_no_token(team):
    raw, _ = make_key(team, allowed_ips=["192.0.2.0/24"])
    status, headers, _ = ask(raw, ip="198.51.100.1")
    assert status == 403 and HEADER not in headers
    assert HEADER not in ask("tg_live_nonsense")[1]


def issued_at(token: str) -> int:
    return jwt.decode(token, options={"verify_signature": False})["iat"]


def test_a_first_token_is_reused_until_a_fifth_of_its_life_a_renewal_until_40_percent(
    team, settings
):
    """Each renewed by half its life; the first from a fifth on (spread: renew_at)."""
    import time_machine

    raw, _ = make_key(team)
    life = settings.ENTITLEMENT_TOKEN_SECONDS
    first = ask(raw)[1][HEADER]  # five calls in all: the free plan's quota
    issued = issued_at(first)
    with time_machine.travel(issued + life * 2 // 10 - 1, tick=False):
        assert ask(raw)[1][HEADER] == first
    with time_machine.travel(issued + life // 2 + 1, tick=False):
        renewed = ask(raw)[1][HEADER]
    assert renewed != first and issued_at(renewed) == issued + life // 2 + 1
    again = issued_at(renewed)
    with time_machine.travel(again + life * 4 // 10 - 1, tick=False):
        assert ask(raw)[1][HEADER] == renewed
    with time_machine.travel(again + life // 2 + 1, tick=False):
        assert issued_at(ask(raw)[1][HEADER]) == again + life // 2 + 1


def test_tokens_issued_together_are_renewed_at_different_times(settings):
    """Keys first called together (a start, a deploy) are not all signed again together: their
    first renewals are spread over 20-50% of a lifetime, later ones over 40-50%."""
    from gateway.entitlements import renew_at

    life = settings.ENTITLEMENT_TOKEN_SECONDS
    firsts = [renew_at(1_000_000, first=True) - 1_000_000 for _ in range(1000)]
    assert all(0.2 * life <= point <= 0.5 * life for point in firsts)
    assert max(firsts) - min(firsts) > 0.25 * life  # most of the window
    later = [renew_at(1_000_000) - 1_000_000 for _ in range(1000)]
    assert all(0.4 * life <= point <= 0.5 * life for point in later)
    assert max(later) - min(later) > 0.08 * life


def test_each_key_and_each_feature_change_gets_its_own_token(team):
    raw, _ = make_key(team)
    other_raw, other = make_key(team)
    first = ask(raw)[1][HEADER]
    other_token = ask(other_raw)[1][HEADER]
    assert jwt.decode(other_token, options={"verify_signature": False})["key"] == other.public_id
    Plan.objects.filter(slug="free").update(features={"insights": True})
    # What a plan's change publishes (catalog_applied, from the admin or the catalog file):
    # plans are cached apart from accounts (gateway.policy.PlanCache).
    invalidation.apply(invalidation.EVERYTHING)
    changed = ask(raw)[1][HEADER]
    assert changed != first
    claims = jwt.decode(changed, options={"verify_signature": False})
    assert claims["features"] == {"insights": True}


def test_rotation_keeps_the_old_key_published_for_the_token_lifetime(team, client, settings):
    raw, _ = make_key(team)
    old_token = ask(raw)[1][HEADER]
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    call_command("rotate_entitlement_key", stdout=open(os.devnull, "w"))  # noqa: SIM115
    new_token = ask(raw)[1][HEADER]
    new_kid = jwt.get_unverified_header(new_token)["kid"]
    assert new_kid != old_kid
    published = jwks(client)
    assert [k["kid"] for k in published["keys"]] == [new_kid, old_kid]
    # Tokens signed before the rotation still verify; so do the new ones.
    assert verified(old_token, published, settings)["key"]
    assert verified(new_token, published, settings)["key"]
    # A second rotation now would unpublish a key whose tokens are still in use.
    with pytest.raises(CommandError, match="published for"):
        call_command("rotate_entitlement_key", stdout=open(os.devnull, "w"))  # noqa: SIM115
    # Once the lifetime (and the margin) has passed, the old key leaves the set.
    previous = previous_path(settings_path(settings))
    rotated_at = time.time() - settings.ENTITLEMENT_TOKEN_SECONDS - PUBLISH_MARGIN_SECONDS - 1
    os.utime(previous, (rotated_at, rotated_at))
    keys.clear()
    assert [k["kid"] for k in jwks(client)["keys"]] == [new_kid]
    call_command("rotate_entitlement_key", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert len(jwks(client)["keys"]) == 2


def test_a_forced_rotation_drops_the_older_key(team, client):
    call_command("rotate_entitlement_key", stdout=open(os.devnull, "w"))  # noqa: SIM115
    leaked = keys.ring().kid
    call_command("rotate_entitlement_key", "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    call_command("rotate_entitlement_key", "--force", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert leaked not in [k["kid"] for k in jwks(client)["keys"]]


def test_a_process_picks_up_a_key_written_by_another(team, settings):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gateway.signing import public_jwk, write_private_file
    from portal.keyfiles import ed25519_pem

    raw, _ = make_key(team)
    before = jwt.get_unverified_header(ask(raw)[1][HEADER])["kid"]
    # Another process (the command, on this host) writes a new key: this one's memory is
    # untouched until its next look at the file, at most RELOAD_CHECK_SECONDS later.
    keys._next_check = time.monotonic() + 3600  # it has just looked
    new = Ed25519PrivateKey.generate()
    write_private_file(settings_path(settings), ed25519_pem(new))
    assert jwt.get_unverified_header(ask(raw)[1][HEADER])["kid"] == before
    keys._next_check = 0.0  # the check is due
    after = jwt.get_unverified_header(ask(raw)[1][HEADER])["kid"]
    assert after == public_jwk(new.public_key())["kid"] != before


def settings_path(settings):
    from pathlib import Path

    return Path(settings.ENTITLEMENT_SIGNING_KEY_FILE)


def test_a_key_that_cannot_sign_fails_the_call_before_it_is_counted(team, settings, tmp_path):
    raw, _ = make_key(team)
    good = settings.ENTITLEMENT_SIGNING_KEY_FILE
    broken = tmp_path / "broken.pem"
    broken.write_text("not a key")
    settings.ENTITLEMENT_SIGNING_KEY_FILE = str(broken)
    keys.clear()
    status, headers, _ = ask(raw)
    assert (status, headers["X-Deny-Reason"]) == (403, "unavailable")  # nginx: 503
    settings.ENTITLEMENT_SIGNING_KEY_FILE = good
    keys.clear()
    status, headers, _ = ask(raw)
    # The free plan's quota is 5: the failed call took none of it.
    assert (status, headers["X-Quota-Remaining"]) == (204, "4")


def test_a_reloaded_key_record_keeps_its_tokens(team):
    """Tokens are held with the key's record (KeyRecord.tokens); the background reload of a
    busy key (core.refresh) keeps the record held when the key is unchanged, and carries the
    tokens over to a changed one, so it signs nothing again."""
    from apikeys import records
    from apikeys.models import ApiKey

    raw, key = make_key(team)
    first = ask(raw)[1][HEADER]
    held = records.cache.peek(key.key_hash)
    ((key_hash, (reloaded, expires_at, refresh_at)),) = records.reload_many([key.key_hash])
    assert reloaded is held  # read again as it is held: nothing new to keep
    ApiKey.objects.filter(pk=key.pk).update(allowed_methods=["GET"])  # no invalidation sent
    ((_, (changed, expires_at, refresh_at)),) = records.reload_many([key.key_hash])
    assert changed is not held and changed.allowed_methods == ("GET",)
    # (Ed25519 signs alike twice: what shows that nothing is signed is the token held.)
    assert list(changed.tokens.values()) == [first] and len(changed.renewals) == 1
    since = records.cache.generation
    assert records.cache.refreshed(key_hash, changed, expires_at, refresh_at, since)
    assert records.cache.peek(key.key_hash) is changed
    assert ask(raw)[1][HEADER] == first


def test_a_key_holds_a_bounded_number_of_tokens(team, product):
    """A key called on ever more products (or through ever more plan changes) keeps at most
    TOKENS_PER_KEY tokens: past it, those due for renewal go, else all of them."""
    from dataclasses import replace

    from apikeys import records
    from gateway import entitlements
    from gateway.policy import catalog, policies

    raw, _ = make_key(team)
    assert ask(raw)[0] == 204
    record = records.lookup(raw)
    policy = policies.get(team.pk, time.time())
    demo = catalog.product_for("/demo/hello")
    now = time.time()
    signed = {
        entitlements.token_for(record, policy, replace(demo, slug=f"p{n}"), now)
        for n in range(entitlements.TOKENS_PER_KEY * 3)
    }
    assert len(signed) == entitlements.TOKENS_PER_KEY * 3  # each product its own audience
    assert 0 < len(record.tokens) <= entitlements.TOKENS_PER_KEY
    # The last ones are still held: called again, each is served as it was.
    last = replace(demo, slug=f"p{entitlements.TOKENS_PER_KEY * 3 - 1}")
    assert entitlements.token_for(record, policy, last, now) in signed


def test_a_keys_tokens_leave_nothing_for_the_garbage_collector(team):
    """A key's held tokens are strings and numbers in two maps, which the collector stops
    tracking: a tracked map per key was one more object per cached key for each full pass."""
    import gc

    from apikeys import records

    raw, key = make_key(team)
    ask(raw)
    record = records.cache.peek(key.key_hash)
    assert record is not None and record.tokens
    gc.collect()
    assert not gc.is_tracked(record.tokens) and not gc.is_tracked(record.renewals)
