"""Buying credits and passes through Checkout's payment mode, against the simulator, with the
webhooks signed as Stripe signs them; automatic top-ups as off-session PaymentIntents."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.test import TestCase

from billing import gateway
from billing.catalog_sync import sync_catalog
from credits import balance, purchases
from credits.models import CreditEntry, CreditWallet, EntryKind, TimePass, TopUp
from credits.tasks import flush as flush_task
from stripe_simulator import taxes
from tests.billing.conftest import deliver
from tests.gateway.support import ask, make_key

pytestmark = pytest.mark.django_db
CARD, ALWAYS_AUTHENTICATES, DECLINES = "4242424242424242", "4000002760003184", "4000000000000341"


@pytest.fixture
def for_sale(sim, free_plan, pack, day_pass):
    sync_catalog()
    pack.refresh_from_db()
    day_pass.refresh_from_db()
    return pack, day_pass


def buy(sim, client, team, alice, kind, item, card=CARD):
    start = len(sim.events())
    url = purchases.start_purchase(team, alice, kind, item, "http://t/s", "http://t/c")
    session = sim.pay_checkout(url, card)
    events = sim.events()[start:]
    deliver(client, events)
    return session, events


def test_a_pack_bought_in_checkout_is_granted_once(sim, client, for_sale, team, alice, redis_db):
    pack, _ = for_sale
    session, events = buy(sim, client, team, alice, "credits", pack)
    assert session["mode"] == "payment" and session["payment_status"] == "paid"
    assert session["amount_total"] == 100
    entry = CreditEntry.objects.get(account=team)
    assert (entry.kind, entry.units, entry.reference) == (EntryKind.PURCHASE, 10, session["id"])
    assert balance.balance_of(team.pk) == 10
    wallet = CreditWallet.objects.get(account=team)
    assert wallet.stripe_payment_method_id.startswith("pm_")
    deliver(client, events)  # Stripe delivers at least once
    assert CreditEntry.objects.filter(account=team).balance() == 10
    assert balance.balance_of(team.pk) == 10


def test_with_stripe_tax_the_pack_is_charged_with_its_tax_and_recorded_so(
    sim, client, for_sale, team, alice, redis_db, settings
):
    """Checkout's amount_total is "after discounts and taxes": what the card is charged, and
    what the ledger shows as paid; the price before tax is the session's amount_subtotal."""
    settings.STRIPE_AUTOMATIC_TAX = True
    pack, _ = for_sale
    session, _ = buy(sim, client, team, alice, "credits", pack)
    tax = taxes.tax_on(100)
    assert session["automatic_tax"]["status"] == "complete"
    assert (session["amount_subtotal"], session["total_details"]["amount_tax"]) == (100, tax)
    assert session["amount_total"] == 100 + tax
    intent = gateway.retrieve_payment_intent(session["payment_intent"])
    assert intent["amount"] == 100 + tax
    assert session["customer_details"]["address"] == taxes.TEST_ADDRESS  # saved on the customer
    entry = CreditEntry.objects.get(account=team)
    assert (entry.units, entry.amount) == (10, Decimal(100 + tax) / 100)


def test_a_declined_card_buys_nothing(sim, client, for_sale, team, alice, redis_db):
    pack, _ = for_sale
    url = purchases.start_purchase(team, alice, "credits", pack, "http://t/s", "http://t/c")
    session_id = url.rsplit("/", 1)[1]
    assert sim.control_status(f"checkout/{session_id}/pay", card=DECLINES) == 402
    assert not CreditEntry.objects.exists()


def test_a_pass_bought_in_checkout_runs_for_its_days(sim, client, for_sale, team, alice, redis_db):
    _, day_pass = for_sale
    session, events = buy(sim, client, team, alice, "pass", day_pass)
    time_pass = TimePass.objects.get(account=team)
    assert time_pass.checkout_session_id == session["id"]
    assert (time_pass.ends_at - time_pass.starts_at).days == 1
    deliver(client, events)
    assert TimePass.objects.count() == 1
    raw, _ = make_key(team)
    assert [ask(raw)[0] for _ in range(4)] == [204, 204, 204, 403]  # the pass's quota of 3


def test_a_renewal_bought_early_starts_where_the_running_pass_ends(
    sim, client, for_sale, team, alice, redis_db
):
    _, day_pass = for_sale
    buy(sim, client, team, alice, "pass", day_pass)
    buy(sim, client, team, alice, "pass", day_pass)
    first, second = TimePass.objects.order_by("starts_at")
    assert second.starts_at == first.ends_at


def enable_topup(team, pack, below=3):
    CreditWallet.objects.filter(account=team).update(
        auto_topup=True, topup_pack=pack, topup_below=below
    )


def spend(raw, n):
    return [ask(raw)[0] for _ in range(n)]


def test_automatic_top_up_charges_the_saved_card_off_session(
    sim, client, for_sale, team, alice, redis_db
):
    pack, _ = for_sale
    buy(sim, client, team, alice, "credits", pack)
    enable_topup(team, pack)
    raw, _ = make_key(team)
    spend(raw, 8)
    start = len(sim.events())
    with TestCase.captureOnCommitCallbacks(execute=True):
        flush_task()  # 2 left, below 3: the flush's balance check tops up
    assert balance.balance_of(team.pk) == 12
    topup = TopUp.objects.get(account=team)
    assert topup.status == "succeeded" and topup.payment_intent_id.startswith("pi_")
    events = sim.events()[start:]
    assert "payment_intent.succeeded" in [e["type"] for e in events]
    deliver(client, events)  # the PaymentIntent's webhook grants nothing more
    assert CreditEntry.objects.filter(account=team, kind=EntryKind.TOPUP).count() == 1
    assert spend(raw, 13) == [204] * 12 + [403]


def test_a_top_up_the_bank_refuses_turns_automatic_top_up_off(
    sim, client, for_sale, team, alice, redis_db
):
    pack, _ = for_sale
    buy(sim, client, team, alice, "credits", pack, card=ALWAYS_AUTHENTICATES)
    enable_topup(team, pack)
    raw, _ = make_key(team)
    spend(raw, 9)
    with TestCase.captureOnCommitCallbacks(execute=True):
        flush_task()
    topup = TopUp.objects.get(account=team)
    assert topup.status == "failed" and "authentication" in topup.error
    assert not CreditWallet.objects.get(account=team).auto_topup
    assert balance.balance_of(team.pk) == 1
    assert any("top-up" in m.subject for m in mail.outbox)
    with TestCase.captureOnCommitCallbacks(execute=True):
        flush_task()
    assert TopUp.objects.count() == 1  # off: no second attempt
