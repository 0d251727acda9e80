from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from apikeys import keys
from tests.gateway.stack import GatewayStack
from tests.gateway.support import DEMO_SPEC, make_key, make_plan, make_product
from tests.helpers import raw_request

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path, redis_db):
    product = make_product(openapi_spec=DEMO_SPEC | {"paths": {**DEMO_SPEC["paths"]}})
    make_plan(
        "free", [(product, [], ["/demo/hello", "/demo/items", "/demo/echo"])], is_default=True,
        requests_per_minute=1000, requests_per_period=3,
    )  # fmt: skip
    make_plan("business", [product], requests_per_second=2)
    running = GatewayStack(tmp_path).start()
    yield running
    running.stop()


def expect(response, status: int, code: str | None = None, **headers: str):
    assert response.status_code == status, response.text
    if code is not None:
        assert response.headers["Content-Type"] == "application/json"
        body = response.json()
        assert body["code"] == code
        assert body["message"]
    for name, value in headers.items():
        assert response.headers.get(name.replace("_", "-")) == value, name
    return response


def test_it_answers_every_status_of_the_table_through_nginx(stack, team):
    url = f"{stack.url}/demo/hello"
    raw, key = make_key(team)

    ok = expect(requests.get(url, headers={"Authorization": f"Bearer {raw}"}), 200)
    assert ok.json()["plan"] == "free"
    assert ok.headers["RateLimit-Limit"] == "1000"
    assert ok.headers["RateLimit-Remaining"] == "999"
    assert ok.headers["X-Quota-Limit"] == "3"
    assert ok.headers["X-Quota-Remaining"] == "2"
    expect(requests.get(url, headers={"X-API-Key": raw}), 200, X_Quota_Remaining="1")

    expect(requests.get(url), 401, "missing_key", WWW_Authenticate='Bearer realm="api"')
    expect(requests.get(url, headers={"X-API-Key": "tg_live_nonsense"}), 401, "invalid_key")
    expect(requests.get(url, headers={"X-API-Key": keys.generate("live")}), 401, "invalid_key")
    revoked, _ = make_key(team, revoked_at=timezone.now())
    expect(requests.get(url, headers={"X-API-Key": revoked}), 401, "inactive_key")
    expired, _ = make_key(team, expires_at=timezone.now() - timedelta(days=1))
    expect(requests.get(url, headers={"X-API-Key": expired}), 401, "inactive_key")

    fenced, _ = make_key(team, allowed_ips=["192.0.2.0/24"])
    expect(requests.get(url, headers={"X-API-Key": fenced}), 403, "ip_not_allowed")
    reports = f"{stack.url}/demo/reports"
    expect(requests.get(reports, headers={"X-API-Key": raw}), 403, "forbidden")

    expect(requests.get(url, headers={"X-API-Key": raw}), 200, X_Quota_Remaining="0")
    over = expect(requests.get(url, headers={"X-API-Key": raw}), 429, "quota_exceeded")
    assert int(over.headers["Retry-After"]) > 0
    assert over.headers["X-Quota-Remaining"] == "0"

    # The portal is behind the same nginx; the auth endpoint itself is not reachable from outside.
    assert requests.get(f"{stack.url}/healthz").status_code in (200, 503)
    assert requests.get(f"{stack.url}/_tollgate_auth").status_code == 404
    direct = f"http://127.0.0.1:{stack.portal_port}/gateway/auth"
    assert requests.get(direct, headers={"Authorization": f"Bearer {raw}"}).status_code == 404

    log = stack.access_log()
    assert key.public_id in log
    assert raw not in log


def test_it_answers_429_with_retry_after_when_rate_limited(stack, team):
    from catalog.models import Plan

    team.plan = Plan.objects.get(slug="business")
    team.save()
    raw, _ = make_key(team)
    url = f"{stack.url}/demo/reports"
    with requests.Session() as session:
        statuses = [session.get(url, headers={"X-API-Key": raw}) for _ in range(6)]
    limited = [r for r in statuses if r.status_code == 429]
    assert limited, [r.status_code for r in statuses]
    expect(limited[0], 429, "rate_limited", RateLimit_Remaining="0")
    # Until the oldest 100 ms bucket of the rolling second leaves: 0.9 to 1.1 s (gateway/limits.lua)
    assert limited[0].headers["Retry-After"] in {"1", "2"}


@pytest.mark.parametrize("byte", [b"\x01", b"\x0b", b"\x1b", b"\x7f"])
def test_a_control_byte_in_what_reaches_the_decision_gets_a_clean_refusal(stack, team, byte):
    """nginx passes control bytes on in header values and queries: the decision still answers
    (not a parse error at the auth server, which nginx would report as 503 "unavailable")."""
    raw, _ = make_key(team)

    def status(head: bytes, target: bytes = b"/demo/hello") -> tuple[int, str]:
        code, body = raw_request(
            stack.url, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + head
        )
        return code, body.get("code", "")

    assert status(b"X-API-Key: tg_" + byte + b"\r\n\r\n") == (401, "invalid_key")
    assert status(b"X-API-Key: " + raw.encode() + byte + b"\r\n\r\n") == (401, "invalid_key")
    assert status(b"Authorization: Bearer " + raw.encode() + byte + b"\r\n\r\n") == (
        401, "invalid_key",
    )  # fmt: skip
    # The key judged is the Authorization's: the other header's bytes are nobody's concern.
    both = b"Authorization: Bearer " + raw.encode() + b"\r\nX-API-Key: " + byte + b"\r\n\r\n"
    assert status(both) == (200, "")
    assert status(b"X-API-Key: " + raw.encode() + b"\r\n\r\n", b"/demo/hello?a=" + byte) == (
        400, "invalid_path",
    )  # fmt: skip
