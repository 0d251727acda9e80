"""In Chromium: pricing → Checkout on the simulator → back to an active plan."""

from __future__ import annotations

import threading

import pytest
from django.test import Client
from playwright.sync_api import sync_playwright

from accounts.models import Account
from tests.billing.conftest import WEBHOOK_SECRET

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.simulator_process,
    pytest.mark.django_db(transaction=True),
]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


def in_browser(steps, cookies) -> None:
    """Drive Chromium from its own thread: Playwright's event loop never touches this thread,
    so the ORM here needs no DJANGO_ALLOW_ASYNC_UNSAFE."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
                )
                context = browser.new_context()
                context.add_cookies(cookies)
                steps(context.new_page())
                browser.close()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the browser steps did not finish"
    if errors:
        raise errors[0]


@pytest.fixture
def shopper(live_server, sim, alice, settings):
    """Alice's personal account and her session cookie at the live server, which Checkout sends
    the customer back to (SITE_URL) and the simulator's signed webhooks reach."""
    settings.SITE_URL = live_server.url
    sim.control("webhooks", url=f"{live_server.url}/billing/webhook", secret=WEBHOOK_SECRET)
    client = Client()
    client.force_login(alice)
    cookies = [
        {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}
    ]
    return Account.objects.get(memberships__user=alice, is_personal=True), cookies


def test_it_subscribes_through_the_simulators_checkout(live_server, sim, plans, shopper):
    account, cookies = shopper
    seen = {}

    def steps(page) -> None:
        page.goto(f"{live_server.url}/pricing/")
        page.click("#subscribe-starter")
        page.wait_for_url(f"{sim.url}/checkout/**")
        page.fill("#card", "4000 0000 0000 0002")
        page.click("#pay")
        seen["declined"] = page.inner_text("#card-error")
        page.fill("#card", "4242 4242 4242 4242")
        page.click("#pay")
        page.wait_for_url(f"{live_server.url}/a/{account.slug}/billing/success/**")
        page.wait_for_selector("text=is active", timeout=20_000)
        page.goto(f"{live_server.url}/a/{account.slug}/billing/")
        seen["plan"] = page.inner_text("#current-plan")

    in_browser(steps, cookies)
    assert "declined" in seen["declined"]
    assert seen["plan"] == "Starter"
    account.refresh_from_db()
    assert account.plan == plans["starter"]


def test_a_promotion_code_typed_in_checkout_discounts_the_invoice(
    live_server, sim, plans, launch, shopper
):
    account, cookies = shopper
    seen = {}

    def steps(page) -> None:
        page.goto(f"{live_server.url}/pricing/")
        page.click("#subscribe-starter")
        page.wait_for_url(f"{sim.url}/checkout/**")
        page.fill("#card", "4242 4242 4242 4242")
        page.get_by_label("Promotion code").fill("<b>LAUNCH21</b>")
        page.click("#pay")
        seen["refused"] = page.inner_text("#promotion-code-error")
        seen["kept"] = page.input_value("#promotion-code")
        page.fill("#card", "4242 4242 4242 4242")
        page.get_by_label("Promotion code").fill("launch20")
        page.click("#pay")
        page.wait_for_url(f"{live_server.url}/a/{account.slug}/billing/success/**")
        page.wait_for_selector("text=is active", timeout=20_000)
        page.goto(f"{live_server.url}/a/{account.slug}/billing/")
        seen["discount"] = page.inner_text(".invoice-discount")

    in_browser(steps, cookies)
    assert seen["refused"] == "This code is invalid."
    assert seen["kept"] == "<b>LAUNCH21</b>"  # shown back as typed, not as markup
    assert seen["discount"] == "(discount 2.00)"
    assert account.invoices.get().discount == 200
