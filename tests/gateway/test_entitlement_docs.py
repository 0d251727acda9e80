"""The snippets docs/entitlements.md gives upstreams, run against tokens the gateway signs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.gateway.entitlement_support import (
    JwksServer,
    alg_none,
    claims_now,
    other_key,
    sign,
)
from tests.helpers import ROOT

DOC = (ROOT / "docs" / "entitlements.md").read_text()
ISSUER = "http://issuer.test"


def snippet(language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", DOC, re.S)
    assert found, language
    return found.group(1)


@pytest.fixture
def jwks_server():
    server = JwksServer()
    yield server
    server.close()


def cases() -> list[tuple[str, str, bool]]:
    """(name, token, whether it must verify)."""
    good = claims_now(iss=ISSUER)
    return [
        ("valid", sign(good), True),
        ("expired", sign(claims_now(iss=ISSUER, iat=1_000, exp=1_300)), False),
        ("another product", sign(claims_now(iss=ISSUER, aud="billing")), False),
        ("another issuer", sign(claims_now(iss="http://evil.test")), False),
        ("another key, the real kid", sign(good, key=other_key()), False),
        ("a made-up kid", sign(good, key=other_key(), kid="made-up"), False),
        ("tampered", tampered(sign(good)), False),
        ("alg none", alg_none(good), False),
        ("HS256 with the public key as secret", hs256_confusion(good), False),
        ("not a token", "garbage", False),
        ("no features", sign({k: v for k, v in good.items() if k != "features"}), False),
    ]


def tampered(token: str) -> str:
    import base64

    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    claims["features"]["report_rows"] = 10**9
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def hs256_confusion(claims: dict) -> str:
    """The classic algorithm confusion: an HMAC keyed with the published public key."""
    import base64
    import hashlib
    import hmac

    from gateway.signing import keys

    jwk = keys.ring().jwks["keys"][0]

    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    signed = f"{part({'alg': 'HS256', 'kid': jwk['kid']})}.{part(claims)}"
    mac = hmac.new(jwk["x"].encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def test_the_python_snippet(signing_key, jwks_server):
    namespace: dict = {}
    exec(snippet("python"), namespace)
    verifier = namespace["Entitlements"](jwks_server.url, issuer=ISSUER, audience="demo")
    for name, token, valid in cases():
        claims = verifier.verify(token)
        assert (claims is not None) is valid, name
        if valid:
            assert claims["features"] == {"insights": True, "report_rows": 100}
    # Made-up kids do not make it fetch the set again and again.
    assert jwks_server.fetches <= 2


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_the_javascript_snippet(signing_key, jwks_server):
    named = cases()
    script = snippet("js") + (
        f"const verify = entitlements({{ jwksUrl: {json.dumps(jwks_server.url)}, "
        f"issuer: {json.dumps(ISSUER)}, audience: 'demo' }});\n"
        f"(async () => {{ for (const token of {json.dumps([t for _, t, _ in named])}) {{\n"
        "  const claims = await verify(token);\n"
        "  console.log(claims ? JSON.stringify(claims.features) : 'null');\n"
        "} })();\n"
    )
    output = subprocess.run(
        ["node", "-e", script], capture_output=True, text=True, check=True, timeout=60
    )
    lines = output.stdout.split()
    assert len(lines) == len(named)
    for (name, _, valid), line in zip(named, lines, strict=True):
        assert (line != "null") is valid, name
        if valid:
            assert json.loads(line) == {"insights": True, "report_rows": 100}
    assert jwks_server.fetches <= 2
