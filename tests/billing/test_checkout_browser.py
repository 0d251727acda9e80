"""In Chromium: pricing → Checkout on the simulator → back to an active plan."""

from __future__ import annotations

import os

import pytest
from django.test import Client

from accounts.models import Account
from tests.billing.conftest import WEBHOOK_SECRET

# Playwright's sync API runs an event loop in this thread; the ORM calls here are safe. Set at
# import because the session's database set-up may run after Playwright has started.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module", autouse=True)
def async_unsafe_allowed():
    # Removed once this module is done, so it does not leak into other tests' subprocesses
    # (manage.py check --deploy refuses it).
    yield
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture(scope="session")
def browser_type_launch_args():
    return {
        "executable_path": "/usr/bin/chromium",
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"],
    }  # fmt: skip


def logged_in(page, live_server, user):
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    page.context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])


def test_it_subscribes_through_the_simulators_checkout(page, live_server, sim, plans, alice):
    account = Account.objects.get(memberships__user=alice, is_personal=True)
    sim.control("webhooks", url=f"{live_server.url}/billing/webhook", secret=WEBHOOK_SECRET)
    logged_in(page, live_server, alice)
    page.goto(f"{live_server.url}/pricing/")
    page.click("#subscribe-starter")
    page.wait_for_url(f"{sim.url}/checkout/**")
    page.fill("#card", "4000 0000 0000 0002")
    page.click("#pay")
    assert "declined" in page.inner_text("#card-error")
    page.fill("#card", "4242 4242 4242 4242")
    page.click("#pay")
    page.wait_for_url(f"{live_server.url}/a/{account.slug}/billing/success/**")
    page.wait_for_selector("text=is active", timeout=20_000)
    page.goto(f"{live_server.url}/a/{account.slug}/billing/")
    assert page.inner_text("#current-plan") == "Starter"
    account.refresh_from_db()
    assert account.plan == plans["starter"]
