from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import timedelta

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import account_view
from accounts.audit import record
from accounts.models import Account, Membership
from accounts.roles import Perm
from accounts.signals import account_policy_changed
from billing.models import MeterErrorReport
from billing.standing import calendar_month
from core.audit import AuditContext
from portal.csv_cells import safe_row
from portal.http import HtmxHttpRequest
from usage import reports, staff
from usage.export import ExportQuery, export_rows
from usage.forms import ExportForm, PreferencesForm
from usage.models import UsagePreferences


@require_GET
@account_view(Perm.VIEW_USAGE)
def dashboard(request: HtmxHttpRequest, membership: Membership) -> HttpResponse:
    account, now = membership.account, timezone.now()
    range_name = request.GET.get("range", "24h")
    window = reports.window_for(
        range_name if range_name in reports.RANGE_NAMES else "24h", account, now
    )
    glance = reports.glance(account, now)
    context = {
        "account": account,
        "membership": membership,
        "glance": glance,
        "window": window,
        "ranges": reports.RANGE_LABELS,
        "export_form": ExportForm(
            initial={"start": (now - timedelta(days=7)).date(), "end": now.date()}
        ),
    }
    if request.htmx and request.GET.get("partial") == "counters":
        return render(request, "usage/dashboard.html#counters", context)
    context.update(report_context(account, window, glance))
    template = "usage/dashboard.html#report" if request.htmx else "usage/dashboard.html"
    return render(request, template, context)


def report_context(
    account: Account, window: reports.Window, glance: reports.Glance
) -> dict[str, object]:
    period = reports.window_for("period", account, timezone.now())
    burn_down = reports.burn_down(account, period, glance.quota, timezone.now())
    by_endpoint = reports.breakdown(account, window, "endpoint")
    return {
        "series_json": json.dumps(reports.requests_over_time(account, window)),
        "burn_down_json": json.dumps(burn_down),
        "burn_down_drawn": bool(burn_down["t"]),
        "by_key": reports.breakdown(account, window, "key_id"),
        "by_endpoint": by_endpoint,
        # The units column only where it says something: a weighted endpoint was called.
        "weighted_calls": any(row.units != row.ok for row in by_endpoint),
        "by_outcome": reports.breakdown(account, window, "outcome"),
        "denials": reports.denials(account, window),
        "status_classes": reports.status_classes(account, window),
        "latency": reports.endpoint_latency(account, window),
    }


@require_GET
@account_view(Perm.VIEW_USAGE)
def export_csv(request: HttpRequest, membership: Membership) -> HttpResponseBase:
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "usage/export_error.html",
            {"form": form, "account": membership.account},
            status=400,
        )
    query = ExportQuery.from_form(membership.account, form.cleaned_data)
    response = StreamingHttpResponse(csv_lines(query), content_type="text/csv; charset=utf-8")
    filename = (
        f"usage-{membership.account.slug}-{query.start:%Y%m%d}-{query.end:%Y%m%d}-{query.by}.csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


CSV_LINES_PER_CHUNK = 500  # one write to the client per 500 lines, not one per line


def csv_lines(query: ExportQuery) -> Iterator[str]:
    writer = csv.writer(Echo())
    lines = [writer.writerow(ExportQuery.COLUMNS)]
    for row in export_rows(query):
        lines.append(writer.writerow(safe_row(row)))
        if len(lines) == CSV_LINES_PER_CHUNK:
            yield "".join(lines)
            lines = []
    yield "".join(lines)


@require_http_methods(["GET", "POST"])
@account_view(Perm.MANAGE_BILLING)
def preferences(request: HttpRequest, membership: Membership) -> HttpResponse:
    account = membership.account
    prefs, _ = UsagePreferences.objects.get_or_create(account=account)
    form = PreferencesForm(request.POST or None, instance=prefs)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            form.save()
            record(
                account,
                "usage.preferences_changed",
                audit_context=AuditContext.of(request),
                data=form.audit_data(),
            )
            # The gateway enforces the spend cap: every process reloads this account's policy.
            account_policy_changed.send(sender=UsagePreferences, account_id=account.id)
        messages.success(request, "Alert and spend cap settings saved.")
        return redirect("usage", account_slug=account.slug)
    return render(request, "usage/preferences.html", {"account": account, "form": form})


@require_GET
@staff_member_required
def staff_overview(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    month_start, _ = calendar_month(now)
    context = {
        **staff.overview(now, month_start),
        "month_start": month_start,
        # Overage Stripe accepted but could not bill: on no invoice until someone acts.
        "meter_errors": MeterErrorReport.objects.all()[:10],
    }
    return render(request, "usage/staff.html", context)
