"""The demo catalog's weighted endpoint and features, end to end through nginx (issue 16).

nginx, the auth server, the portal (its JWKS) and the demo API are real processes; the demo API
verifies every token against the portal's JWKS.
"""

from __future__ import annotations

import http.client
import json
import os
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command

from accounts.signals import account_policy_changed
from catalog.applying import apply_catalog, read_catalog
from catalog.models import CreditPack
from credits import balance, ledger
from credits.models import EntryKind
from gateway.signing import read_private_key
from portal.redis_client import get_redis
from tests.gateway.stack import GatewayStack
from tests.gateway.support import make_key
from tests.helpers import ROOT, wait_for
from usage.flush import flush
from usage.models import HourlyUsage, UsageSummary

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CATALOG = ROOT / "deploy" / "demo" / "catalog.toml"
TOKEN = "Tollgate-Entitlements"


@pytest.fixture
def stack(tmp_path, redis_db):
    apply_catalog(read_catalog(CATALOG), CATALOG.parent)
    running = GatewayStack(tmp_path).start()
    yield running
    running.stop()


def on_plan(account, plan: str) -> None:
    call_command("set_plan", account=account.slug, plan=plan, reason="issue 16 test",
                 stdout=open(os.devnull, "w"))  # noqa: SIM115  # fmt: skip


def call(port: int, method: str, path: str, key: str | None = None, body: dict | None = None,
         headers: tuple[tuple[str, str], ...] = ()):  # fmt: skip
    """One request; headers may repeat a name (http.client sends them as given)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        if key is not None:
            connection.putheader("Authorization", f"Bearer {key}")
        for name, value in headers:
            connection.putheader(name, value)
        data = json.dumps(body).encode() if body is not None else b""
        connection.putheader("Content-Length", str(len(data)))
        connection.endheaders(data)
        answer = connection.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        connection.close()


def test_a_weighted_call_consumes_ten_units_and_the_usage_shows_both(stack, team):
    on_plan(team, "pro")
    raw, key = make_key(team)
    status, headers, body = call(stack.port, "POST", "/demo/reports", raw)
    assert status == 201, body
    assert (headers["x-quota-limit"], headers["x-quota-remaining"]) == ("100000", "99990")
    assert json.loads(body)["row_limit"] == 100  # Pro's report_rows feature
    status, headers, _ = call(stack.port, "GET", "/demo/hello", raw)
    assert (status, headers["x-quota-remaining"]) == (200, "99989")
    flush(get_redis())
    rows = {
        row.endpoint: (row.count, row.units)
        for row in HourlyUsage.objects.filter(account=team, key_id=key.public_id, outcome="ok")
    }
    assert rows == {"POST /reports": (1, 10), "GET /hello": (1, 1)}
    summary = UsageSummary.objects.get(account=team, dimension="account", span="hour",
                                       environment="live", outcome="ok")  # fmt: skip
    assert (summary.count, summary.units) == (2, 11)


def test_spellings_of_the_weighted_endpoint_are_charged_as_it(stack, team):
    on_plan(team, "business")  # every path of the product: no plan prefix narrows the spellings
    raw, _ = make_key(team)
    remaining = 2_000_000
    for path in ("/demo/REPORTS", "/demo/reports/", "/demo/Reports/", "/demo/reports?x=/hello"):
        status, headers, _ = call(stack.port, "POST", path, raw)
        # The demo API routes exactly (404 but for the last); a lenient upstream would have made
        # a report. Either way the call was charged as one.
        assert status in (201, 404), path
        remaining -= 10
        assert headers["x-quota-remaining"] == str(remaining), path
    # Pro lists /demo/reports among its paths, in that case: another spelling is refused, free.
    # The change reaches the gateway's cached policy by pub/sub (its latency is tested elsewhere).
    on_plan(team, "pro")

    def refused() -> bool:
        status, _, body = call(stack.port, "POST", "/demo/REPORTS", raw)
        return status == 403 and json.loads(body)["code"] == "forbidden"

    wait_for(refused, timeout=5, what="the pro plan's refusal of another spelling")


def test_the_weighted_endpoint_has_its_own_limit_in_calls(stack, team):
    on_plan(team, "pro")
    raw, _ = make_key(team)
    for n in range(10):
        status, headers, _ = call(stack.port, "POST", "/demo/reports", raw)
        assert status == 201, n
    assert (headers["ratelimit-limit"], headers["ratelimit-remaining"]) == ("10", "0")
    status, headers, body = call(stack.port, "POST", "/demo/reports/", raw)
    assert (status, json.loads(body)["code"]) == (429, "rate_limited")
    assert int(headers["retry-after"]) >= 1
    assert headers["x-quota-remaining"] == str(100000 - 100)  # the refusal took nothing
    # Other endpoints keep the plan's own limits.
    status, headers, _ = call(stack.port, "GET", "/demo/hello", raw)
    assert (status, headers["ratelimit-limit"]) == (200, "2000")


def test_a_feature_changes_the_demo_response(stack, team, user_factory):
    from accounts.models import Account

    free_team = Account.objects.create_with_owner("Free team", user_factory("free@example.com"))
    on_plan(team, "pro")
    pro_key, _ = make_key(team)
    free_key, _ = make_key(free_team)
    status, _, body = call(stack.port, "GET", "/demo/items/5", pro_key)
    assert status == 200 and "insights" in json.loads(body)
    status, _, body = call(stack.port, "GET", "/demo/items/5", free_key)
    assert status == 200 and json.loads(body) == {"id": 5, "name": "Item 5"}


def received(stack, raw: str, *headers: tuple[str, str]) -> dict:
    status, _, body = call(stack.port, "POST", "/demo/echo", raw, {"n": 1}, headers)
    assert status == 200, body
    return json.loads(body)["headers"]


def jwks(stack) -> dict:
    status, _, body = call(stack.portal_port, "GET", "/.well-known/jwks.json")
    assert status == 200
    return json.loads(body)


def verified(token: str, stack) -> dict:
    (key,) = [jwt.PyJWK(k) for k in jwks(stack)["keys"]
              if k["kid"] == jwt.get_unverified_header(token)["kid"]]  # fmt: skip
    return jwt.decode(token, key, algorithms=["EdDSA"], audience="demo",
                      issuer=stack.env["SITE_URL"])  # fmt: skip


def test_a_token_the_client_sends_never_reaches_the_upstream(stack, team):
    on_plan(team, "pro")
    raw, key = make_key(team)
    genuine = received(stack, raw)[TOKEN]
    assert verified(genuine, stack)["key"] == key.public_id
    forged = forge(stack, {"features": {"insights": True, "report_rows": 10**9}})
    for headers in (
        ((TOKEN, forged),),
        (("tollgate-entitlements", forged),),
        ((TOKEN, forged), (TOKEN, forged)),
        (("Tollgate_Entitlements", forged),),  # nginx drops names with underscores
    ):
        seen = received(stack, raw, *headers)
        assert seen[TOKEN] == genuine, headers
        assert forged not in json.dumps(seen)


def signing_key_of(stack):
    return read_private_key(stack.workdir / "var" / "entitlement_signing_key.pem")


def forge(stack, changes: dict, key=None, kid: str | None = None) -> str:
    now = int(time.time())
    claims = {
        "iss": stack.env["SITE_URL"], "aud": "demo", "sub": "1", "key": "k", "plan": "business",
        "env": "live", "features": {"insights": True}, "iat": now, "exp": now + 300, **changes,
    }  # fmt: skip
    real_kid = jwks(stack)["keys"][0]["kid"]
    return jwt.encode(claims, key or Ed25519PrivateKey.generate(), algorithm="EdDSA",
                      headers={"kid": kid or real_kid})  # fmt: skip


def test_the_demo_api_refuses_forged_expired_and_foreign_tokens(stack, team):
    on_plan(team, "pro")
    raw, _ = make_key(team)
    genuine = received(stack, raw)[TOKEN]
    real = signing_key_of(stack)
    now = int(time.time())
    refused = {
        "missing": None,
        "garbage": "not-a-token",
        "another key": forge(stack, {}),
        "a made-up kid": forge(stack, {}, kid="made-up"),
        "expired": forge(stack, {"iat": now - 700, "exp": now - 400}, key=real),
        "another product": forge(stack, {"aud": "billing"}, key=real),
        "another issuer": forge(stack, {"iss": "https://evil.example"}, key=real),
    }
    # Straight to the upstream, around the gateway: only a valid token gets an answer.
    for name, token in refused.items():
        headers = ((TOKEN, token),) if token else ()
        status, _, body = call(stack.demo_port, "GET", "/demo/hello", headers=headers)
        assert (status, json.loads(body)["code"]) == (401, "invalid_entitlements"), name
    status, _, body = call(stack.demo_port, "GET", "/demo/hello", headers=((TOKEN, genuine),))
    assert (status, json.loads(body)["plan"]) == (200, "pro")
    assert settings.ENTITLEMENT_TOKEN_SECONDS >= 300  # the expired token is past any leeway


def test_the_usage_page_shows_calls_and_units(stack, team, alice, client):
    on_plan(team, "pro")
    raw, _ = make_key(team)
    for path, method in (("/demo/reports", "POST"), ("/demo/hello", "GET")):
        assert call(stack.port, method, path, raw)[0] in (200, 201)
    flush(get_redis())
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/usage/?range=24h").content.decode()
    endpoints = page[page.index("By endpoint") :].split("</table>")[0]
    row = endpoints[endpoints.index("POST /reports") :].split("</tr>")[0]
    assert [cell.split("</td>")[0] for cell in row.split("<td")[1:]] == [
        ">1",
        ' data-testid="units">10',
        ">0",
    ]
    assert '<p class="stat-value" data-testid="period-used">11</p>' in page


def test_prepaid_credits_are_spent_by_the_unit(stack, team):
    """A report takes 10 credits, a hello 1; a report that does not fit in what is left is
    refused (402) and takes nothing, while a one-unit call still passes."""
    pack = CreditPack.objects.get(slug="starter-credits")  # the demo's, on Pay as you go
    pack.credits = 26
    pack.save(update_fields=["credits"])
    balance.apply_grant(ledger.grant_pack(team, pack, EntryKind.PURCHASE, "cs_weighted", None))
    account_policy_changed.send(sender=CreditPack, account_id=team.pk)
    raw, _ = make_key(team)

    def hello() -> tuple[int, dict]:
        status, headers, _ = call(stack.port, "GET", "/demo/hello", raw)
        return status, headers

    wait_for(lambda: "x-credits-remaining" in hello()[1], timeout=20, what="credits in force")
    assert balance.balance_of(team.pk) == 25
    for left in ("15", "5"):
        status, headers, body = call(stack.port, "POST", "/demo/reports", raw)
        assert (status, headers["x-credits-remaining"]) == (201, left), body
    status, headers, body = call(stack.port, "POST", "/demo/reports", raw)
    assert (status, json.loads(body)["code"]) == (402, "credits_exhausted")
    assert headers["x-credits-remaining"] == "5"  # the refused report took nothing
    status, headers = hello()
    assert (status, headers["x-credits-remaining"]) == (200, "4")
