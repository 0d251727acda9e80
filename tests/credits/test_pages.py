"""The credits page, buying from it, its settings form under hostile input, and the pass
reminder (a beat task: once per pass, whatever runs twice)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from billing.catalog_sync import sync_catalog
from credits.models import CreditWallet, TimePass
from credits.notices import remind_expiring_passes
from tests.credits.conftest import grant, running_pass
from tests.gateway.support import ask, make_key

pytestmark = pytest.mark.django_db


def page(client, team):
    return client.get(f"/a/{team.slug}/credits/")


def test_the_page_shows_balance_ledger_and_chart(client, alice, free_plan, pack, team, redis_db):
    grant(team, pack)
    raw, _ = make_key(team)
    for _ in range(3):
        ask(raw)
    client.force_login(alice)
    response = page(client, team)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="credit-balance">7<' in html
    assert 'data-chart="balance"' in html and "Purchase" in html


def test_an_account_without_credits_is_offered_the_packs(client, alice, sim, free_plan, pack, team):
    sync_catalog()
    client.force_login(alice)
    html = page(client, team).content.decode()
    assert "No credits yet" in html and "Buy 10 credits" in html
    response = client.post(f"/a/{team.slug}/credits/buy/", {"pack": "ten"})
    assert response.status_code == 302 and response["Location"].startswith(sim.url)


@pytest.mark.parametrize("pack_slug", ["", "nope", "ten'--", "x" * 5000])
def test_an_unknown_pack_is_a_404(client, alice, free_plan, pack, team, pack_slug):
    client.force_login(alice)
    assert client.post(f"/a/{team.slug}/credits/buy/", {"pack": pack_slug}).status_code == 404
    assert client.post(f"/a/{team.slug}/credits/pass/", {"plan": pack_slug}).status_code == 404


def test_developers_and_outsiders_cannot_buy(client, bob, charlie, free_plan, pack, team):
    for person in (bob, charlie):
        client.force_login(person)
        response = client.post(f"/a/{team.slug}/credits/buy/", {"pack": "ten"})
        assert response.status_code in (403, 404)


@pytest.mark.parametrize(
    "form",
    [
        {"topup_below": "-1", "low_balance_below": "0"},
        {"topup_below": "1" * 30, "low_balance_below": "0"},
        {"topup_below": "abc", "low_balance_below": "0"},
        {"auto_topup": "on", "topup_below": "5", "low_balance_below": "0"},  # no pack
        {"auto_topup": "on", "topup_pack": "ten", "topup_below": "5", "low_balance_below": "0"},
    ],
)
def test_bad_settings_are_refused_and_save_nothing(
    client, alice, free_plan, pack, team, form, redis_db
):
    grant(team, pack)  # no card: a purchase outside Checkout
    before = list(CreditWallet.objects.values())
    client.force_login(alice)
    response = client.post(f"/a/{team.slug}/credits/top-up/", form, follow=True)
    assert response.status_code == 200 and "Not saved" in response.content.decode()
    assert list(CreditWallet.objects.values()) == before


def test_good_settings_are_saved(client, alice, free_plan, pack, team, redis_db):
    grant(team, pack)
    CreditWallet.objects.filter(account=team).update(stripe_payment_method_id="pm_1")
    pack.stripe_price_id = "price_1"  # for sale
    pack.save()
    client.force_login(alice)
    form = {"auto_topup": "on", "topup_pack": "ten", "topup_below": "5", "low_balance_below": "2"}
    client.post(f"/a/{team.slug}/credits/top-up/", form)
    wallet = CreditWallet.objects.get(account=team)
    assert (wallet.auto_topup, wallet.topup_pack, wallet.topup_below) == (True, pack, 5)


def test_a_pass_is_reminded_once_before_it_ends(free_plan, day_pass, team):
    time_pass = running_pass(team, day_pass, hours_left=5, hours_ago=19)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert remind_expiring_passes(timezone.now()) == 1
        assert remind_expiring_passes(timezone.now()) == 0
    assert len(mail.outbox) == 1 and "Day pass" in mail.outbox[0].subject
    time_pass.refresh_from_db()
    assert time_pass.reminded_at is not None


def test_a_pass_far_from_its_end_or_renewed_is_not_reminded(free_plan, day_pass, team):
    running_pass(team, day_pass, hours_left=30, hours_ago=1)  # a reminder a day before: not yet
    soon = running_pass(team, day_pass, hours_left=2, hours_ago=22)
    renewal_ends = soon.ends_at + timedelta(days=1)
    TimePass.objects.create(
        account=team,
        plan=day_pass,
        starts_at=soon.ends_at,
        ends_at=renewal_ends,
        checkout_session_id="cs_r",
    )
    assert remind_expiring_passes(timezone.now()) == 0


def test_pricing_lists_passes_and_packs_apart_from_the_plans(client, sim, free_plan, pack,
                                                             day_pass):  # fmt: skip
    sync_catalog()
    html = client.get("/pricing/").content.decode()
    assert 'id="plan-day"' not in html  # no monthly price to show
    assert 'id="pass-day"' in html and "1 day for 5.00 USD" in html
    assert 'id="pack-ten"' in html and "10 credits for 1.00 USD" in html
