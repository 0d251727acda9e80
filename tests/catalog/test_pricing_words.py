"""Prices for people ("$29/month"), the recommended plan and the comparison, from the catalog."""

from __future__ import annotations

import html
import re
from decimal import Decimal

import pytest

from catalog.models import Plan
from catalog.pricing import comparison, highlighted, money
from tests.gateway.support import make_plan, make_product


@pytest.mark.parametrize(
    ("amount", "currency", "words"),
    [
        (Decimal("29.00"), "usd", "$29"),
        (Decimal("0.5000"), "usd", "$0.50"),
        (Decimal("1250"), "eur", "€1,250"),
        (Decimal("9.99"), "chf", "9.99 CHF"),
        (Decimal(0), "usd", "$0"),
    ],
)
def test_money_reads_as_people_write_it(amount, currency, words):
    assert money(amount, currency) == words


@pytest.mark.django_db
def test_the_pricing_page_recommends_compares_and_answers(client):
    demo, extra = make_product(), make_product("extra", "/extra/")
    free = make_plan("free", [demo], is_default=True, requests_per_period=1000)
    pro = make_plan(
        "pro", [demo, extra], monthly_price=Decimal("29.00"), requests_per_period=100_000,
        overage_price_per_1000=Decimal("0.50"), trial_days=14, stripe_price_id="price_pro",
        sort_order=1,
    )  # fmt: skip
    big = make_plan("big", [demo, extra], monthly_price=Decimal("99"), sort_order=2)
    plans = list(Plan.objects.all())
    assert highlighted(plans) == pro  # the cheapest paid plan with a trial
    rows = {row.label: row.cells for row in comparison(plans)}
    assert rows["Price"] == ["$0/month", "$29/month", "$99/month"]
    assert rows["Beyond the quota"] == [
        "Refused until the next period",
        "$0.50 per 1,000 calls",
        "No quota",
    ]
    assert rows["Extra"] == ["No", "Included", "Included"]
    assert free and big

    page = html.unescape(client.get("/pricing/").content.decode())
    assert 'data-testid="price-pro">$29/month<' in page
    free_card = re.search(r'<article[^>]*id="plan-free">(.*?)</article>', page, re.S).group(1)
    assert free_card.count("Free") == 1  # its name; the price says "$0/month"
    assert "USD / month" not in page and "29.00" not in page
    featured = re.search(r'<article class="([^"]*)" id="plan-pro">', page).group(1)
    assert "pricing-featured" in featured
    assert "Compare plans" in page and "What counts as a call?" in page
