"""In Chromium: the plan chosen on the pricing page survives sign-up and email verification and
lands in that plan's Checkout; a later login lands on the account's dashboard."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests

from accounts.models import Account

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


def test_the_chosen_plan_goes_from_pricing_through_verification_to_checkout(
    live_server, sim, plans, mail_folder, page, settings
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

    page.goto(base + "/pricing/")
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
