from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from accounts.access import account_view
from accounts.models import Account, Membership
from accounts.roles import Perm
from apikeys.models import ApiKey
from requestlog.forms import RequestFilterForm
from requestlog.models import LoggedRequest

PAGE_SIZE = 50


def filtered(account: Account, request: HttpRequest) -> tuple[RequestFilterForm, QuerySet[Any]]:
    keys = [
        (public_id, f"{name} ({prefix}…)")
        for public_id, name, prefix in ApiKey.objects.filter(account=account)
        .order_by("name")
        .values_list("public_id", "name", "prefix")
    ]
    form = RequestFilterForm(request.GET, keys=keys)
    rows = LoggedRequest.objects.filter(account=account).order_by("-at", "-id")
    if not form.is_valid():
        return form, rows
    data = form.cleaned_data
    if data["key"]:
        rows = rows.filter(key_id=data["key"])
    if data["outcome"] == "ok":
        rows = rows.filter(reason="")
    elif data["outcome"] == "refused":
        rows = rows.exclude(reason="")
    elif data["outcome"]:
        rows = rows.filter(reason=data["outcome"])
    if data["status"]:
        rows = rows.filter(status=data["status"])
    if data["path"]:
        rows = rows.filter(path__contains=data["path"])
    return form, rows


def log_page(request: HttpRequest, account: Account, extra: dict[str, Any]) -> HttpResponse:
    form, rows = filtered(account, request)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    names = dict(form.fields["key"].choices)  # type: ignore[attr-defined]  # django-stubs: Field has no choices
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "account": account,
        "form": form,
        "page": page,
        "key_names": names,
        "query": query.urlencode(),
        "retention_days": settings.REQUEST_LOG_RETENTION_DAYS,
        **extra,
    }
    return render(request, "requestlog/requests.html", context)


@require_GET
@account_view(Perm.VIEW_USAGE)
def account_requests(request: HttpRequest, membership: Membership) -> HttpResponse:
    return log_page(request, membership.account, {"membership": membership})


@require_GET
@staff_member_required
def staff_requests(request: HttpRequest, account_slug: str) -> HttpResponse:
    """The same view for staff on any account, for support."""
    account = get_object_or_404(Account, slug=account_slug)
    return log_page(request, account, {"staff_view": True})
