from __future__ import annotations

import json

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.standing import calendar_month
from seller import figures


@require_GET
@staff_member_required
def console(request: HttpRequest) -> HttpResponse:
    """Revenue, conversion and where customers hit limits, on one page."""
    now = timezone.now()
    month_start, _ = calendar_month(now)
    subs = figures.subscriptions()
    context = {
        "month_start": month_start,
        "mrr": figures.mrr(subs),
        "movement": figures.movement(subs, month_start),
        "by_plan": figures.by_plan(subs),
        "trials": figures.trials(subs, now),
        "funnel": figures.funnel(subs, now),
        "top_consumers": figures.top_consumers(now),
        "endpoints": figures.endpoint_popularity(now),
        "refusals": figures.refusals(now),
        "overdue": figures.overdue(subs),
        "calls_json": json.dumps(figures.calls_by_day(now)),
        "chart_start": now - figures.WINDOW,
        "now": now,
    }
    return render(request, "seller/console.html", context)
