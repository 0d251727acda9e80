from __future__ import annotations

import pytest
import requests

from accounts.models import Membership
from accounts.roles import Role
from billing import gateway
from billing.models import Subscription
from tests.billing.conftest import subscribe


@pytest.fixture
def billing_member(user_factory, team):
    user = user_factory("betty@example.com")
    Membership.objects.create(account=team, user=user, role=Role.BILLING)
    return user


def url(team, name="billing"):
    return f"/a/{team.slug}/billing/" + ("" if name == "billing" else f"{name}/")


# --- pricing and billing pages ----------------------------------------------------------------
def test_it_shows_the_pricing_page_to_everyone_with_the_simulator_notice(client, plans, settings):
    settings.STRIPE_USES_SIMULATOR = True
    page = client.get("/pricing/").content.decode()
    assert "Starter" in page and "Pro" in page and "$0.50 per 1,000 calls" in page
    assert "Stripe simulator" in page
    assert "Sign up to choose Pro" in page


def test_it_marks_the_current_plan_on_the_pricing_page(client, plans, team, alice):
    client.force_login(alice)
    page = client.get("/pricing/").content.decode()
    assert "Your current plan" in page
    assert 'id="subscribe-starter"' in page


def test_it_shows_the_billing_page_with_plan_and_invoices(client, plans, team, alice, sim):
    subscribe(sim, client, team, plans["starter"], alice)
    client.force_login(alice)
    page = client.get(url(team)).content.decode()
    assert 'id="current-plan">Starter' in page
    assert "TG-" in page and "/pdf" in page
    assert 'id="upcoming-invoice"' in page


def test_it_lets_a_billing_member_see_invoices(client, plans, team, billing_member, sim):
    client.force_login(billing_member)
    assert client.get(url(team)).status_code == 200


def test_it_refuses_the_billing_page_to_a_developer(client, team, bob):
    client.force_login(bob)
    assert client.get(url(team)).status_code == 403


def test_it_hides_the_billing_page_from_outsiders(client, team, charlie):
    client.force_login(charlie)
    assert client.get(url(team)).status_code == 404


def test_it_says_activating_until_the_webhook_is_applied(client, plans, team, alice, sim):
    client.force_login(alice)
    page = client.get(url(team, "success") + "?session_id=cs_test_unknown")
    assert "Activating" in page.content.decode()
    partial = client.get(
        url(team, "success") + "?session_id=cs_test_unknown", headers={"HX-Request": "true"}
    )
    assert 'hx-trigger="every 2s"' in partial.content.decode()
    assert "<html" not in partial.content.decode()
    subscribe(sim, client, team, plans["starter"], alice)
    session_id = Subscription.objects.get().checkout_session_id
    done = client.get(
        url(team, "success") + f"?session_id={session_id}", headers={"HX-Request": "true"}
    )
    assert "is active" in done.content.decode()


# --- checkout: the standard five -------------------------------------------------------------
def test_it_sends_the_owner_to_checkout(client, plans, team, alice, sim):
    client.force_login(alice)
    response = client.post(url(team, "checkout"), {"plan": "starter"})
    assert response.status_code == 302
    assert response["Location"].startswith(f"{sim.url}/checkout/cs_test_")


def test_it_lets_a_billing_member_check_out(client, plans, team, billing_member, sim):
    client.force_login(billing_member)
    assert client.post(url(team, "checkout"), {"plan": "pro"})["Location"].startswith(sim.url)


def test_it_404s_an_unknown_plan_at_checkout(client, plans, team, alice, sim):
    client.force_login(alice)
    assert client.post(url(team, "checkout"), {"plan": "nope"}).status_code == 404
    assert client.post(url(team, "checkout"), {"plan": "free"}).status_code == 404


def test_it_404s_checkout_for_outsiders(client, plans, team, charlie, sim):
    client.force_login(charlie)
    assert client.post(url(team, "checkout"), {"plan": "starter"}).status_code == 404


def test_it_refuses_get_on_checkout(client, plans, team, alice):
    client.force_login(alice)
    assert client.get(url(team, "checkout")).status_code == 405


def test_it_refuses_checkout_to_a_developer(client, plans, team, bob, sim):
    client.force_login(bob)
    assert client.post(url(team, "checkout"), {"plan": "starter"}).status_code == 403


# --- change plan: the standard five --------------------------------------------------------
def test_it_changes_the_plan(client, plans, team, alice, sim):
    subscribe(sim, client, team, plans["starter"], alice)
    client.force_login(alice)
    response = client.post(url(team, "plan"), {"plan": "pro"}, follow=True)
    assert "Changing to Pro" in response.content.decode()


def test_it_lets_a_billing_member_change_the_plan(client, plans, team, alice, billing_member, sim):
    subscribe(sim, client, team, plans["pro"], alice)
    client.force_login(billing_member)
    response = client.post(url(team, "plan"), {"plan": "starter"}, follow=True)
    assert "at the end of this billing period" in response.content.decode()


def test_it_explains_when_there_is_no_subscription_to_change(client, plans, team, alice, sim):
    client.force_login(alice)
    response = client.post(url(team, "plan"), {"plan": "pro"}, follow=True)
    assert "There is no subscription to change." in response.content.decode()


def test_it_404s_an_unknown_plan_change(client, plans, team, alice, sim):
    client.force_login(alice)
    assert client.post(url(team, "plan"), {"plan": "nope"}).status_code == 404


def test_it_404s_plan_change_for_outsiders(client, plans, team, charlie):
    client.force_login(charlie)
    assert client.post(url(team, "plan"), {"plan": "pro"}).status_code == 404


def test_it_refuses_get_on_plan_change(client, team, alice):
    client.force_login(alice)
    assert client.get(url(team, "plan")).status_code == 405


# --- cancel and portal: the standard five ----------------------------------------------------
def test_it_cancels_at_period_end_and_can_undo(client, plans, team, alice, sim):
    subscribe(sim, client, team, plans["starter"], alice)
    client.force_login(alice)
    response = client.post(url(team, "cancel"), follow=True)
    assert "ends at the end of this period" in response.content.decode()
    response = client.post(url(team, "cancel"), {"undo": "1"}, follow=True)
    assert "continues" in response.content.decode()


def test_it_lets_a_billing_member_cancel(client, plans, team, alice, billing_member, sim):
    subscribe(sim, client, team, plans["starter"], alice)
    client.force_login(billing_member)
    assert client.post(url(team, "cancel")).status_code == 302


def test_it_404s_cancel_for_a_bad_account_and_outsiders(client, team, alice, charlie):
    client.force_login(alice)
    assert client.post("/a/no-such-team/billing/cancel/").status_code == 404
    client.force_login(charlie)
    assert client.post(url(team, "cancel")).status_code == 404


def test_it_refuses_get_on_cancel_and_portal(client, team, alice):
    client.force_login(alice)
    assert client.get(url(team, "cancel")).status_code == 405
    assert client.get(url(team, "portal")).status_code == 405


def test_it_opens_the_customer_portal(client, plans, team, alice, billing_member, sim):
    client.force_login(billing_member)
    response = client.post(url(team, "portal"))
    assert response["Location"].startswith(f"{sim.url}/portal/bps_")


def test_it_404s_the_portal_for_a_bad_account_and_outsiders(client, team, alice, charlie):
    client.force_login(alice)
    assert client.post("/a/no-such-team/billing/portal/").status_code == 404
    client.force_login(charlie)
    assert client.post(url(team, "portal")).status_code == 404


def test_it_says_so_when_stripe_is_unreachable(client, plans, team, alice, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    client.force_login(alice)
    response = client.post(url(team, "checkout"), {"plan": "starter"}, follow=True)
    assert "Checkout could not start: Stripe is unavailable" in response.content.decode()


# --- return addresses: always on SITE_URL, whatever Host the request names --------------------
@pytest.fixture
def second_host(settings):
    """An operator serving the portal under two names; the request names the other one."""
    settings.SITE_URL = "https://portal.example.com"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "other.example.net"]
    return {"HTTP_HOST": "other.example.net"}


def test_checkout_returns_to_site_url_not_the_requests_host(
    client, plans, team, alice, sim, second_host
):
    client.force_login(alice)
    response = client.post(url(team, "checkout"), {"plan": "starter"}, **second_host)
    session = gateway.retrieve_checkout_session(response["Location"].rsplit("/", 1)[1])
    assert session["success_url"].startswith(f"https://portal.example.com/a/{team.slug}/billing/")
    assert session["cancel_url"] == "https://portal.example.com/pricing/"


def test_the_billing_portal_returns_to_site_url(client, plans, team, alice, sim, second_host):
    client.force_login(alice)
    response = client.post(url(team, "portal"), **second_host)
    page = requests.get(response["Location"], timeout=10).text
    assert f'href="https://portal.example.com/a/{team.slug}/billing/" id="return"' in page
    assert "other.example.net" not in page
