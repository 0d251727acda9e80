"""A developer opens a product's reference, creates a test key in one click, runs "try it"
through the real nginx gateway, and sees the call on the usage page."""

from __future__ import annotations

import re

import pytest
import requests
from django.core.management import call_command
from playwright.sync_api import expect

from portal.redis_client import get_redis
from tests.gateway.stack import GatewayStack
from tests.helpers import ROOT
from usage.flush import flush

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stack(tmp_path, redis_db, settings):
    call_command("apply_catalog", str(ROOT / "deploy/demo/catalog.toml"), stdout=None)
    running = GatewayStack(tmp_path)
    # The portal is browsed through nginx here, so the gateway is the page's own origin.
    running.env.update(GATEWAY_PUBLIC_URL=running.url, SITE_URL=running.url)
    settings.SITE_URL = running.url
    running.start()
    yield running
    running.stop()


def test_try_it_calls_the_api_through_the_gateway_and_the_call_is_counted(
    stack, browser, client, alice
):
    client.force_login(alice)
    context = browser.new_context(base_url=stack.url)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": stack.url}]
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    problems: list[str] = []
    page.on("console", lambda m: m.type == "error" and problems.append(m.text))

    page.goto("/docs/demo/")
    page.click("#create-test-key")
    expect(page.locator("#try-it-key")).to_have_text(
        re.compile(r"^tg_test_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}$")
    )
    key = page.text_content("#try-it-key")
    assert key in page.text_content("#snip-1-curl")  # the snippets carry it too

    operation = page.locator(".opblock-get", has=page.locator("[data-path='/hello']"))
    operation.locator(".opblock-summary").click()
    operation.locator(".execute").click()
    status = operation.locator(".live-responses-table tr.response td.response-col_status")
    expect(status).to_have_text("200")

    flush(get_redis())
    page.goto(f"/a/{alice.memberships.get().account.slug}/usage/")
    endpoint_row = page.locator("section:has(h2:text('By endpoint')) tr", has_text="GET /hello")
    expect(endpoint_row).to_contain_text("1")
    assert problems == []
    context.close()


def test_the_gateway_lets_only_the_portal_origin_call_from_a_browser(stack):
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = requests.options(
        f"{stack.url}/demo/hello", headers={"Origin": stack.url, **preflight}
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == stack.url
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    other = requests.options(
        f"{stack.url}/demo/hello", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    refused = requests.get(f"{stack.url}/demo/hello", headers={"Origin": stack.url})
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == stack.url  # the browser may read why
