"""A developer creates, copies, rotates and revokes a key in a real Chromium, with htmx."""

from __future__ import annotations

import pytest
from django.db import connections
from playwright.sync_api import expect, sync_playwright

from apikeys import keys
from apikeys.models import ApiKey

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture(autouse=True)
def allow_sync_orm_beside_playwright(monkeypatch):
    # Scoped to these tests: set at import time it leaks into every later subprocess (and
    # fails tests/portal/test_env.py's deploy check, which refuses DJANGO_ALLOW_ASYNC_UNSAFE).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser_page(live_server, client, alice):
    client.force_login(alice)
    session = client.cookies["sessionid"].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        context = browser.new_context(base_url=live_server.url)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
        context.add_cookies([{"name": "sessionid", "value": session, "url": live_server.url}])
        page = context.new_page()
        page.console_problems = []
        page.on(
            "console",
            lambda m: m.type == "error" and page.console_problems.append(m.text),
        )
        yield page
        browser.close()
        # Inside sync_playwright the ORM runs in another asyncio context, so asgiref gives it
        # its own connection; close it here or the test database cannot be dropped.
        connections.close_all()


def test_a_developer_creates_copies_rotates_and_revokes_a_key(browser_page, team):
    page = browser_page
    page.goto(f"/a/{team.slug}/keys/")
    page.get_by_label("Name").first.fill("Checkout service")
    page.get_by_role("button", name="Create key").click()

    secret = page.get_by_test_id("raw-key")
    expect(secret).to_be_visible()
    raw = secret.inner_text().strip()
    assert keys.is_well_formed(raw)
    page.get_by_role("button", name="Copy key").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == raw

    key = ApiKey.objects.get(account=team)
    row = page.locator(f"#row-{key.public_id}")
    row.get_by_text("Rotate", exact=True).click()
    row.get_by_label("Old key keeps working").select_option("1h")
    row.get_by_role("button", name="Rotate key").click()
    expect(page.get_by_role("heading", name="New key for")).to_be_visible()
    new_raw = page.get_by_test_id("raw-key").inner_text().strip()
    assert keys.is_well_formed(new_raw) and new_raw != raw

    old_row = page.locator(f"#row-{key.public_id}")
    expect(old_row.get_by_text("retiring")).to_be_visible()
    expect(old_row.locator(".time-left")).to_contain_text("works for")
    assert len(page.locator("tr[data-key-id]").all()) == 2  # both keys, side by side

    page.once("dialog", lambda dialog: dialog.accept())
    old_row.get_by_role("button", name="Revoke now").click()
    expect(page.get_by_text("is revoked")).to_be_visible()
    expect(page.locator(f"#row-{key.public_id}")).to_have_count(0)
    key.refresh_from_db()
    assert key.revoked_at is not None

    page.reload()
    assert raw not in page.content() and new_raw not in page.content()
    assert page.console_problems == []  # no CSP violations, no script errors


def test_dismissing_the_confirmation_keeps_the_key(browser_page, team, alice):
    page = browser_page
    key, _ = ApiKey.objects.issue(team, name="Keep me", created_by=alice)
    page.goto(f"/a/{team.slug}/keys/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.locator(f"#row-{key.public_id}").get_by_role("button", name="Revoke").click()
    page.wait_for_timeout(300)
    key.refresh_from_db()
    assert key.revoked_at is None
