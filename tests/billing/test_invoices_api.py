from __future__ import annotations

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from accounts.models import Membership
from accounts.roles import Role
from billing import flows, metering
from billing.models import Customer, Invoice, Subscription
from tests.billing.conftest import run_and_deliver, subscribe

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(user_factory, team):
    user = user_factory("betty@example.com")
    Membership.objects.create(account=team, user=user, role=Role.BILLING)
    return user


def invoices(api, user, account, suffix=""):
    api.force_login(user)
    return api.get(f"/api/v1/accounts/{account.slug}/invoices/{suffix}")


def make_invoice(account, stripe_id, day, **fields):
    defaults = {"status": "paid", "currency": "usd", "amount_due": 1000, "amount_paid": 1000}
    return Invoice.objects.create(
        account=account,
        stripe_id=stripe_id,
        created=datetime(2026, 11, day, tzinfo=UTC),
        **{**defaults, **fields},
    )


# --- list -----------------------------------------------------------------------------------
def test_it_lists_the_invoices_stripe_sent_us(api, plans, team, alice, sim):
    subscribe(sim, APIClient(), team, plans["starter"], alice)
    response = invoices(api, alice, team)
    assert response.status_code == 200
    [invoice] = response.json()["results"]
    stored = team.invoices.get()
    assert invoice["id"] == stored.stripe_id and invoice["number"].startswith("TG-")
    assert (invoice["status"], invoice["currency"]) == ("paid", "usd")
    assert invoice["amount_due"] == invoice["amount_paid"] == 1000  # 10.00 USD, in cents
    assert (invoice["tax"], invoice["discount"]) == (0, 0)  # no Stripe Tax, no coupon
    assert invoice["invoice_pdf"].endswith("/pdf")


def test_it_shows_the_tax_and_discount_the_billing_page_shows(
    api, client, plans, team, alice, launch, sim, settings
):
    settings.STRIPE_AUTOMATIC_TAX = True
    subscribe(sim, client, team, plans["starter"], alice, promotion_code="LAUNCH20")
    [invoice] = invoices(api, alice, team).json()["results"]
    # 10.00 less 20% is 8.00; the simulator's 10% tax on 8.00 is 0.80.
    assert (invoice["discount"], invoice["tax"], invoice["amount_due"]) == (200, 80, 880)
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/billing/").content.decode()
    assert '<span class="invoice-discount">(discount 2.00)</span>' in page
    assert '<span class="invoice-tax">(tax 0.80)</span>' in page


def test_newest_first_paged_and_no_empty_links(api, team, alice):
    make_invoice(team, "in_old", 1)
    make_invoice(team, "in_new", 3, status="draft", amount_paid=0)
    make_invoice(team, "in_mid", 2)
    body = invoices(api, alice, team, "?limit=2").json()
    assert body["count"] == 3 and body["next"]
    assert [row["id"] for row in body["results"]] == ["in_new", "in_mid"]
    draft = body["results"][0]
    assert draft["hosted_invoice_url"] is None and draft["invoice_pdf"] is None


def test_a_billing_member_may_read_invoices(api, team, clerk):
    make_invoice(team, "in_1", 1)
    assert invoices(api, clerk, team).json()["count"] == 1


@pytest.mark.parametrize("suffix", ["", "upcoming/"])
def test_a_developer_gets_403(api, team, bob, suffix):
    make_invoice(team, "in_1", 1)
    response = invoices(api, bob, team, suffix)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize("suffix", ["", "upcoming/"])
def test_an_outsider_gets_404(api, team, charlie, suffix):
    make_invoice(team, "in_1", 1)
    response = invoices(api, charlie, team, suffix)
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "No such account"}


def test_it_shows_no_other_accounts_invoices(api, team, alice, charlie):
    make_invoice(charlie.memberships.get().account, "in_charlies", 1)
    assert invoices(api, alice, team).json()["count"] == 0


# --- upcoming -------------------------------------------------------------------------------
def test_the_upcoming_invoice_comes_from_stripe_with_the_overage(api, plans, team, alice, sim):
    subscribe(sim, APIClient(), team, plans["starter"], alice)
    sub = Subscription.objects.current_for(team)
    before = invoices(api, alice, team, "upcoming/").json()
    assert before == {
        "amount_due": 1000,
        "currency": "usd",
        "overage_amount": 0,
        "overage_calls": 0,
        "date": sub.current_period_end.isoformat().replace("+00:00", "Z"),
    }
    metering.report_overage(team, sub.current_period_start, "batch-1", 1500, datetime.now(UTC))
    after = invoices(api, alice, team, "upcoming/").json()
    assert after["overage_calls"] == 1500
    assert after["overage_amount"] == 75  # 1.5 thousand calls at 0.50 USD
    assert after["amount_due"] == 1075


def test_the_overage_counts_when_plan_changes_push_it_past_the_first_ten_lines(
    client, plans, team, alice, sim
):
    """Stripe embeds ten lines of an invoice, prorations first: six plan changes make twelve,
    and the overage line is only in the rest, which the portal lists."""
    subscribe(sim, client, team, plans["starter"], alice)
    sub = team.subscriptions.get()
    metering.report_overage(team, sub.current_period_start, "batch-1", 1500, datetime.now(UTC))
    for n in range(6):
        plan = plans["pro"] if n % 2 == 0 else plans["starter"]
        run_and_deliver(sim, client, lambda plan=plan: flows.change_plan(
            team, plan, alice, downgrade_at_period_end=False))  # fmt: skip
    upcoming = flows.upcoming_invoice(team)
    assert upcoming is not None
    assert upcoming.overage_amount == 75  # 1.5 thousand calls at 0.50 USD


def test_the_api_and_the_billing_page_agree(api, client, plans, team, alice, sim):
    subscribe(sim, client, team, plans["starter"], alice)
    upcoming = flows.upcoming_invoice(team)
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/billing/").content.decode()
    assert f"{upcoming.amount:.2f} USD" in page
    assert invoices(api, alice, team, "upcoming/").json()["amount_due"] == upcoming.amount_due


def test_no_subscription_means_no_upcoming_invoice(api, team, alice):
    response = invoices(api, alice, team, "upcoming/")
    assert response.status_code == 404
    assert response.json()["code"] == "no_upcoming_invoice"


def test_a_subscription_ending_this_period_has_no_upcoming_invoice(
    api, client, plans, team, alice, sim
):
    subscribe(sim, client, team, plans["starter"], alice)
    run_and_deliver(sim, client, lambda: flows.set_cancel_at_period_end(team, alice, cancel=True))
    response = invoices(api, alice, team, "upcoming/")
    assert response.status_code == 404
    assert response.json()["code"] == "no_upcoming_invoice"


def test_stripe_unreachable_is_a_503_with_a_code(api, team, alice, settings):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
    Customer.objects.create(account=team, stripe_id="cus_1")
    Subscription.objects.create(
        account=team,
        stripe_id="sub_1",
        status="active",
        started_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    response = invoices(api, alice, team, "upcoming/")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "billing_unavailable" and "Stripe is unavailable" in body["detail"]
