from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal

from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.revenue import CENT
from portal.csv_cells import safe_row
from requestlog.reasons import reason_words
from seller import figures, snapshot


@require_GET
@staff_member_required
def console(request: HttpRequest) -> HttpResponse:
    """Revenue, conversion and where customers hit limits, on one page."""
    now = timezone.now()
    months = figures.mrr_by_month(now)
    this_month = months[-1] if months else figures.Month(start=figures.month_start(now))
    overdue = figures.overdue()
    usage = snapshot.latest()
    context = {
        "month_start": this_month.start,
        "mrr": this_month.mrr_at_end,
        "movement": this_month,
        "months": list(reversed(months)),
        "by_plan": figures.by_plan(),
        "by_product": figures.by_product(),
        "trials": figures.trials(now),
        "funnel": figures.funnel(now),
        "usage": usage,
        "overdue": overdue[: figures.OVERDUE_SHOWN],
        "overdue_count": overdue.count(),
        "overdue_shown": figures.OVERDUE_SHOWN,
        "calls_json": json.dumps(usage.calls_by_day),
        "chart_start": usage.computed_at - figures.WINDOW,
        "chart_end": usage.computed_at,
    }
    return render(request, "seller/console.html", context)


def money(value: Decimal) -> Decimal:
    """A number, not text: a negative amount stays one a spreadsheet can add up."""
    return value.quantize(CENT)


def mrr_rows(now: datetime) -> Iterable[list[object]]:
    for m in figures.mrr_by_month(now):
        yield [
            f"{m.start:%Y-%m}",
            money(m.mrr_at_start),
            money(m.opening),
            money(m.new),
            money(m.expansion),
            money(m.contraction),
            money(m.churn),
            money(m.mrr_at_end),
        ]


def plan_rows(now: datetime) -> Iterable[list[object]]:
    return ([name, count, money(revenue)] for name, count, revenue in figures.by_plan())


def product_rows(now: datetime) -> Iterable[list[object]]:
    return ([name, money(revenue)] for name, revenue in figures.by_product())


def consumer_rows(now: datetime) -> Iterable[list[object]]:
    return ([a.slug, a.name, calls] for a, calls in snapshot.latest().top_consumers)


def endpoint_rows(now: datetime) -> Iterable[list[object]]:
    return ([endpoint, calls] for endpoint, calls in snapshot.latest().endpoints)


def refusal_rows(now: datetime) -> Iterable[list[object]]:
    return (
        [reason, reason_words(reason), endpoint, calls]
        for reason, endpoint, calls in snapshot.latest().refusals
    )


def overdue_rows(now: datetime) -> Iterable[list[object]]:
    for sub in figures.overdue().iterator(chunk_size=1000):
        since = sub.past_due_since
        yield [
            sub.account.slug,
            sub.account.name,
            sub.plan.name if sub.plan else "",
            sub.status,
            since.isoformat() if since else "",
        ]


# Each table of the console as CSV: its columns and its rows (money as plain decimals).
TABLES: dict[str, tuple[list[str], Callable[[datetime], Iterable[list[object]]]]] = {
    "mrr": (
        [
            "month",
            "mrr_at_start",
            "opening_balance",
            "new",
            "expansion",
            "contraction",
            "churn",
            "mrr_at_end",
        ],
        mrr_rows,
    ),
    "plans": (["plan", "live_subscriptions", "mrr"], plan_rows),
    "products": (["product", "mrr"], product_rows),
    "consumers": (["account_slug", "account_name", "live_calls_30_days"], consumer_rows),
    "endpoints": (["endpoint", "live_calls_30_days"], endpoint_rows),
    "refusals": (["reason", "reason_words", "endpoint", "calls_30_days"], refusal_rows),
    "overdue": (["account_slug", "account_name", "plan", "status", "overdue_since"], overdue_rows),
}


@require_GET
@staff_member_required
def export_csv(request: HttpRequest, table: str) -> HttpResponse:
    """One console table as CSV; text a customer chose (account names, endpoints) cannot
    become a spreadsheet formula (portal/csv_cells.py)."""
    if table not in TABLES:
        raise Http404("No such console table")
    columns, rows = TABLES[table]
    now = timezone.now()
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="console-{table}-{now:%Y%m%d}.csv"'
    writer = csv.writer(response)
    writer.writerow(columns)
    writer.writerows(safe_row(row) for row in rows(now))
    return response
