"""The webhooks pages: /a/<account_slug>/webhooks/ (endpoints) and one page per endpoint with
its delivery log. A signing secret is rendered only into the response that made it."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.access import account_view
from accounts.models import Membership
from accounts.roles import Perm
from core.audit import AuditContext
from portal.http import AuthenticatedHttpRequest
from webhooks import delivery, endpoints
from webhooks.forms import EndpointForm
from webhooks.models import Delivery, Endpoint

LOG_PAGE_SIZE = 50


def _get_endpoint(membership: Membership, endpoint_id: str) -> Endpoint:
    return get_object_or_404(Endpoint, account=membership.account, public_id=endpoint_id)


@account_view(Perm.MANAGE_WEBHOOKS)
def webhooks_page(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    form = EndpointForm(request.POST or None)
    context: dict[str, Any] = {"account": membership.account, "form": form}
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = endpoints.create(
                membership.account, request.user, AuditContext.of(request), **form.cleaned_data
            )
        except endpoints.EndpointRefused as refused:
            form.add_error(refused.field, refused.message)
        else:
            context.update(new_endpoint=endpoint, secret=endpoint.secret, form=EndpointForm())
    context["endpoints"] = membership.account.webhook_endpoints.order_by("-created_at")
    return render(request, "webhooks/webhooks.html", context, status=400 if form.errors else 200)


@account_view(Perm.MANAGE_WEBHOOKS)
def endpoint_page(
    request: AuthenticatedHttpRequest, membership: Membership, endpoint_id: str
) -> HttpResponse:
    endpoint = _get_endpoint(membership, endpoint_id)
    return _render_endpoint(request, membership, endpoint)


def _render_endpoint(
    request: AuthenticatedHttpRequest, membership: Membership, endpoint: Endpoint, **extra: Any
) -> HttpResponse:
    log = endpoint.deliveries.select_related("event")
    page = Paginator(log, LOG_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"account": membership.account, "endpoint": endpoint, "page": page, **extra}
    return render(request, "webhooks/endpoint.html", context)


@require_POST
@account_view(Perm.MANAGE_WEBHOOKS)
def roll_secret(
    request: AuthenticatedHttpRequest, membership: Membership, endpoint_id: str
) -> HttpResponse:
    endpoint = _get_endpoint(membership, endpoint_id)
    secret = endpoints.roll_secret(endpoint, request.user, AuditContext.of(request))
    return _render_endpoint(request, membership, endpoint, secret=secret)


@require_POST
@account_view(Perm.MANAGE_WEBHOOKS)
def send_test(
    request: AuthenticatedHttpRequest, membership: Membership, endpoint_id: str
) -> HttpResponse:
    endpoint = _get_endpoint(membership, endpoint_id)
    try:
        delivery.send_test(endpoint)
    except delivery.TooManySends as refused:
        return _refuse_send(request, membership, endpoint, refused)
    messages.success(request, "A test event is on its way; it appears in the log below.")
    return redirect("webhook", membership.account.slug, endpoint.public_id)


def _refuse_send(
    request: AuthenticatedHttpRequest,
    membership: Membership,
    endpoint: Endpoint,
    refused: delivery.TooManySends,
) -> HttpResponse:
    messages.error(request, refused.message)
    response = _render_endpoint(request, membership, endpoint)
    response.status_code = 429
    response["Retry-After"] = str(refused.retry_after)
    return response


@require_POST
@account_view(Perm.MANAGE_WEBHOOKS)
def resend(
    request: AuthenticatedHttpRequest, membership: Membership, endpoint_id: str, delivery_id: int
) -> HttpResponse:
    endpoint = _get_endpoint(membership, endpoint_id)
    try:
        delivery.resend(get_object_or_404(Delivery, endpoint=endpoint, pk=delivery_id))
    except delivery.TooManySends as refused:
        return _refuse_send(request, membership, endpoint, refused)
    messages.success(request, "The event will be sent again.")
    return redirect("webhook", membership.account.slug, endpoint.public_id)


@require_POST
@account_view(Perm.MANAGE_WEBHOOKS)
def toggle(
    request: AuthenticatedHttpRequest, membership: Membership, endpoint_id: str
) -> HttpResponse:
    endpoint = _get_endpoint(membership, endpoint_id)
    endpoints.set_enabled(endpoint, not endpoint.is_enabled, request.user, AuditContext.of(request))
    return redirect("webhook", membership.account.slug, endpoint.public_id)


@require_POST
@account_view(Perm.MANAGE_WEBHOOKS)
def delete(
    request: AuthenticatedHttpRequest, membership: Membership, endpoint_id: str
) -> HttpResponse:
    endpoints.delete(_get_endpoint(membership, endpoint_id), request.user, AuditContext.of(request))
    messages.success(request, "The endpoint is deleted.")
    return redirect("webhooks", membership.account.slug)
