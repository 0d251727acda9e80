"""In Chromium: the plan chosen on the pricing page, monthly or yearly, survives sign-up and email
verification and lands in that plan's Checkout at that interval; a later login lands on the
account's dashboard."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from accounts.models import Account
from billing.catalog_sync import sync_catalog
from onboarding import continuity

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.simulator_process,
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def mail_folder(settings, tmp_path) -> Path:
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = tmp_path
    return tmp_path


def confirmation_link(folder: Path) -> str:
    for message in sorted(folder.glob("*.log")):
        found = re.search(r"http://\S+/accounts/confirm-email/[^\s/]+/", message.read_text())
        if found:
            return found.group(0)
    raise AssertionError("no confirmation mail")


def sign_up(page, base: str, email: str) -> None:
    page.fill("input[name=email]", email)
    page.fill("input[name=password1]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url("**/accounts/confirm-email/")


@pytest.fixture
def pro_yearly(plans):
    """Pro (50.00 a month) also sold at 500.00 a year."""
    pro = plans["pro"]
    pro.yearly_price = Decimal("500.00")
    pro.save()
    sync_catalog()
    pro.refresh_from_db()
    return pro


def checkout_prices(sim) -> list[str]:
    """The prices of the last Checkout session Tollgate asked the simulator for."""
    created = [
        x for x in sim.exchanges() if (x["method"], x["path"]) == ("POST", "/v1/checkout/sessions")
    ]
    return [item["price"] for item in created[-1]["params"]["line_items"]]


@pytest.mark.parametrize("interval", ["month", "year"])
def test_the_chosen_plan_goes_from_pricing_through_verification_to_checkout(
    live_server, sim, plans, pro_yearly, mail_folder, page, settings, interval
):
    settings.SITE_URL = live_server.url
    page.set_default_timeout(10_000)
    problems: list[str] = []
    base, email = live_server.url, f"pat-{uuid.uuid4().hex[:8]}@example.com"
    # The portal's pages only (the simulator's page has no favicon).
    page.on(
        "console",
        lambda msg: (
            msg.type == "error"
            and msg.location["url"].startswith(base)
            and problems.append(msg.text)
        ),
    )

    page.goto(f"{base}/pricing/?interval={interval}")
    page.click("#choose-pro")
    page.wait_for_url("**/accounts/signup/")
    sign_up(page, base, email)
    page.goto(confirmation_link(mail_folder))
    page.click("form.auth-form button[type=submit]")

    # Verified and signed in: the page submits itself on to the simulator's Checkout for Pro.
    page.wait_for_url(f"{sim.url}/checkout/**")
    assert "Pro" in page.text_content("body")
    account = Account.objects.get(memberships__user__email=email, is_personal=True)
    session = requests.get(
        f"{sim.url}/v1/checkout/sessions/{page.url.rsplit('/', 1)[1]}",
        headers={"Authorization": "Bearer sk_test_simulator"},
        timeout=10,
    ).json()
    assert session["client_reference_id"] == str(account.pk)
    assert session["status"] == "open"
    assert checkout_prices(sim) == pro_yearly.stripe_prices(interval)
    assert problems == []

    # The choice was offered once: the next login lands on the dashboard.
    page.goto(base + "/")
    page.click("header button:has-text('Log out')")
    page.goto(base + "/accounts/login/")
    page.fill("input[name=login]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.auth-form button[type=submit]")
    page.wait_for_url(f"{base}/a/{account.slug}/")
    assert page.is_visible("#plan-glance")
    assert page.is_visible("#first-call")


def test_a_plan_not_for_sale_is_a_404(client, plans):
    assert client.get("/pricing/free/choose/").status_code == 404  # free: no Checkout
    assert client.get("/pricing/nope/choose/").status_code == 404
    assert client.get("/pricing/pro/choose/").status_code == 302


def test_only_an_interval_the_plan_is_sold_at_is_remembered(client, plans, pro_yearly):
    for asked, remembered in [("", "month"), ("month", "month"), ("year", "year")]:
        response = client.get(f"/pricing/pro/choose/?interval={asked}")
        assert response.status_code == 302
        assert client.session[continuity.CHOSEN_INTERVAL_SESSION_KEY] == remembered
    # Starter is sold monthly only; the rest are no interval at all.
    assert client.get("/pricing/starter/choose/?interval=year").status_code == 404
    hostile = ["decade", "YEAR", "year\x00", " year", "<script>", "month&interval=year", "x" * 5000]
    for asked in hostile:
        assert client.get("/pricing/pro/choose/", {"interval": asked}).status_code == 404, asked


def test_the_pricing_page_links_the_yearly_choice_only_where_it_is_sold(client, plans, pro_yearly):
    yearly = client.get("/pricing/?interval=year").content.decode()
    assert 'href="/pricing/pro/choose/?interval=year"' in yearly
    assert 'href="/pricing/starter/choose/"' in yearly  # billed monthly only
    monthly = client.get("/pricing/").content.decode()
    assert 'href="/pricing/pro/choose/"' in monthly


def test_a_yearly_price_dropped_after_the_choice_falls_back_to_monthly(
    client, sim, plans, pro_yearly, user_factory
):
    client.force_login(user_factory("dana@example.com"))
    assert client.get("/pricing/pro/choose/?interval=year").status_code == 302
    pro_yearly.yearly_price = None
    pro_yearly.save()
    sync_catalog()
    page = client.get("/welcome/checkout/").content.decode()
    assert 'name="interval" value="month"' in page
