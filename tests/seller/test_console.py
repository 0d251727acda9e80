"""The seller console against a scripted history whose numbers are known."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Account
from billing.models import Subscription
from catalog.models import Plan
from tests.gateway.support import make_key
from tests.usage.conftest import add_usage

pytestmark = pytest.mark.django_db
NOW = "2026-11-20 12:00:00+00:00"


def day(month: int, dom: int) -> datetime:
    return datetime(2026, month, dom, tzinfo=UTC)


@pytest.fixture
def history(time_machine, user_factory):
    pro = Plan.objects.create(slug="pro", name="Pro", monthly_price=Decimal(29), trial_days=14)
    biz = Plan.objects.create(slug="biz", name="Biz", monthly_price=Decimal(99))

    def sub(account, plan, status, started, ended=None, past_due_since=None):
        Subscription.objects.create(
            stripe_id=f"sub_{account.slug}", account=account, plan=plan, status=status,
            started_at=started, ended_at=ended, past_due_since=past_due_since,
        )  # fmt: skip

    time_machine.move_to("2026-08-01 00:00:00+00:00", tick=False)
    old, gone = (Account.objects.create(name=n, slug=n) for n in ("old", "gone"))
    staff = user_factory(is_staff=True)  # before the window, with their personal account
    time_machine.move_to("2026-11-05 00:00:00+00:00", tick=False)
    n1, n2, n3, n4, n5 = (Account.objects.create(name=f"n{i}", slug=f"n{i}") for i in range(1, 6))
    time_machine.move_to(NOW, tick=False)

    sub(old, pro, "active", day(9, 1))  # converted from its trial long ago
    sub(gone, pro, "canceled", day(8, 1), ended=day(11, 3))  # paid, churned this month
    sub(n1, biz, "active", day(11, 5))  # new
    sub(n2, pro, "trialing", day(11, 15))  # trial running
    sub(n3, pro, "canceled", day(11, 5), ended=day(11, 10))  # ended in its trial
    sub(n4, biz, "past_due", day(11, 6), past_due_since=day(11, 12))  # new, overdue

    for account, calls in ((n1, 500), (n5, 100), (old, 50)):
        _, key = make_key(account)
        add_usage(account, key, day(11, 19), calls, endpoint="GET /hello")
        if account == n1:
            add_usage(account, key, day(11, 19), 20, "quota_exceeded", endpoint="GET /hello")
        if account == n5:
            add_usage(account, key, day(11, 18), 30, outcome="forbidden", endpoint="GET /premium")
    return staff


def test_the_console_shows_the_scripted_numbers(client, history):
    client.force_login(history)
    page = html.unescape(client.get("/staff/console/").content.decode())

    def cell(testid: str) -> str:
        start = page.index(f'data-testid="{testid}">') + len(f'data-testid="{testid}">')
        return page[start : page.index("<", start)]

    assert cell("mrr") == "$227.00"  # old 29 + n1 99 + n4 99
    assert cell("mrr-new") == "+$198.00"  # n1 and n4
    assert cell("mrr-churn") == "\N{MINUS SIGN}$29.00"  # gone; n3 never paid
    assert cell("trial-conversion") == "66.7%"  # old and gone paid after trial, n3 did not
    assert (cell("funnel-signed-up"), cell("funnel-first-call"), cell("funnel-paid")) == (
        "5", "2", "2"
    )  # fmt: skip
    assert (cell("plan-count-pro"), cell("plan-count-biz")) == ("2", "2")
    assert cell("refused-forbidden") == "30" and cell("refused-quota_exceeded") == "20"
    assert cell("overdue-n4") == "2026-11-12"
    assert page.index(">n1</a>") < page.index(">n5</a>") < page.index(">old</a>")  # top consumers
    assert "<code>GET /hello</code></td><td>650<" in page


def test_only_staff_see_it(client, alice):
    client.force_login(alice)
    assert client.get("/staff/console/").status_code == 302
    assert "Console" not in client.get("/").content.decode()
