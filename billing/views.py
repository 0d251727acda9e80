from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.access import account_view, current_account
from accounts.models import Account, Membership
from accounts.roles import Perm
from billing import flows, gateway
from billing.catalog_sync import sold_only_as_pass
from billing.gateway import BillingError
from billing.models import StripeEvent, Subscription
from billing.standing import payment_overdue
from catalog.models import CreditPack, Plan
from core.links import site_url
from portal.http import AuthenticatedHttpRequest, HtmxHttpRequest
from portal.metrics import WEBHOOK_FAILURES
from portal.params import lookup_value


def _billing_url(membership: Membership) -> str:
    return reverse("billing", args=[membership.account.slug])


def interval_for_sale(plan: Plan, value: str) -> str:
    """The billing interval asked for: month (the default) or year, if `plan` is sold so."""
    if value in ("", "month") or (value == "year" and plan.sold_yearly):
        return value or "month"
    raise Http404("No such price")


def _plan_for_sale(slug: str) -> Plan:
    plan = (
        Plan.objects.filter(slug=slug, is_public=True, is_retired=False)
        .exclude(stripe_price_id="")
        .first()
    )
    if plan is None:
        raise Http404("No such plan")
    return plan


def stripe_page_origins() -> list[str]:
    """Where our Checkout and portal buttons redirect: the simulator, or Stripe's hosted pages."""
    if settings.STRIPE_USES_SIMULATOR or not settings.STRIPE_API_BASE.startswith(
        "https://api.stripe.com"
    ):
        parts = urlsplit(settings.STRIPE_API_BASE)
        return [f"{parts.scheme}://{parts.netloc}"]
    return ["https://checkout.stripe.com", "https://billing.stripe.com"]


def allow_stripe_form_redirects(
    view: Callable[..., HttpResponseBase],
) -> Callable[..., HttpResponseBase]:
    """Browsers apply CSP form-action to a form's redirects too: allow Stripe's pages."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> HttpResponseBase:
        response = view(*args, **kwargs)
        # django-csp reads this per-response attribute; Django's stubs do not know it.
        response._csp_update = {"form-action": ["'self'", *stripe_page_origins()]}  # type: ignore[attr-defined]
        return response

    return wrapper


@require_GET
@allow_stripe_form_redirects
def pricing(request: HttpRequest) -> HttpResponse:
    public = Plan.objects.filter(is_public=True, is_retired=False).prefetch_related("products")
    # A plan sold only as a time pass has no monthly price to show: it is listed with passes.
    plans = [plan for plan in public if not sold_only_as_pass(plan)]
    account = current_account(request)
    current = account.effective_plan() if account else None
    can_buy = bool(
        account
        and request.user.is_authenticated  # always, when there is an account: for mypy
        and account.memberships.get(user=request.user).can(Perm.MANAGE_BILLING)
    )
    ctx = {
        "plans": plans,
        "account": account,
        "current_plan": current,
        "can_buy": can_buy,
        "yearly": request.GET.get("interval") == "year",
        "any_yearly": any(plan.sold_yearly for plan in plans),
        "passes": [plan for plan in public if plan.sold_as_pass],
        "packs": CreditPack.objects.filter(is_retired=False).exclude(stripe_price_id=""),
    }
    return render(request, "billing/pricing.html", {**ctx, **simulator_context()})


def simulator_context() -> dict[str, Any]:
    return {"stripe_simulator": settings.STRIPE_USES_SIMULATOR}


@allow_stripe_form_redirects
@account_view(Perm.VIEW_INVOICES)
def billing(request: HttpRequest, membership: Membership) -> HttpResponse:
    account = membership.account
    sub = Subscription.objects.current_for(account)
    plans = Plan.objects.filter(is_public=True, is_retired=False).exclude(stripe_price_id="")
    ctx = {
        "membership": membership,
        "account": account,
        "subscription": sub,
        "plans": plans,
        "any_yearly": any(p.sold_yearly for p in plans),
        "plan": account.effective_plan(),
        "status_words": status_in_words(sub, timezone.now()) if sub else "",
        "free_plan": Plan.objects.filter(is_default=True, is_retired=False).first(),
        "invoices": account.invoices.all()[:24],
        "can_manage": membership.can(Perm.MANAGE_BILLING),
        **_upcoming(account),
    }
    return render(request, "billing/billing.html", {**ctx, **simulator_context()})


def status_in_words(sub: Subscription, now: datetime) -> str:
    """The subscription's state as a sentence a customer understands, with its dates."""
    end = sub.current_period_end
    day = f"{end:%-d %b}" if end else ""
    if sub.status == "trialing":
        return f"Free trial until {day}" if end else "Free trial"
    if sub.status in ("past_due", "unpaid") and sub.past_due_since:
        deadline = sub.past_due_since + timedelta(days=settings.BILLING_GRACE_DAYS)
        if payment_overdue(sub.status, sub.past_due_since, now):
            return "Payment failed: access is suspended until your card is updated"
        return f"Payment failed: update your card by {deadline:%-d %b}"
    if sub.cancel_at_period_end:
        return f"Ends on {day}" if end else "Ends at the end of this period"
    if sub.status == "active":
        return f"Renews on {day}" if end else "Active"
    return sub.status.replace("_", " ").capitalize()


def _upcoming(account: Account) -> dict[str, Any]:
    try:
        return {"upcoming": flows.upcoming_invoice(account), "card": flows.card_on_file(account)}
    except BillingError as error:
        return {"upcoming_error": str(error)}


@require_POST
@account_view(Perm.MANAGE_BILLING)
def checkout(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    plan = _plan_for_sale(lookup_value(request.POST, "plan"))
    interval = interval_for_sale(plan, request.POST.get("interval", ""))
    if Subscription.objects.current_for(membership.account):
        messages.info(request, "You already have a subscription: change its plan below.")
        return redirect(_billing_url(membership))
    success = site_url(reverse("billing_success", args=[membership.account.slug]))
    try:
        url = flows.start_checkout(
            membership.account,
            plan,
            request.user,
            f"{success}?session_id={{CHECKOUT_SESSION_ID}}",
            site_url(reverse("pricing")),
            interval,
        )
    except BillingError as error:
        messages.error(request, f"Checkout could not start: {error}")
        return redirect(_billing_url(membership))
    return redirect(url)


@require_GET
@account_view(Perm.MANAGE_BILLING)
def checkout_success(request: HtmxHttpRequest, membership: Membership) -> HttpResponse:
    """Shows "activating…" until the webhook is applied: the redirect itself proves nothing."""
    session_id = lookup_value(request.GET, "session_id")
    sub = (
        Subscription.objects.filter(
            account=membership.account, checkout_session_id=session_id
        ).first()
        if session_id
        else None
    )
    ctx = {
        "account": membership.account,
        "subscription": sub,
        "session_id": session_id,
        **simulator_context(),
    }
    template = "billing/success.html#activation" if request.htmx else "billing/success.html"
    return render(request, template, ctx)


@require_POST
@account_view(Perm.MANAGE_BILLING)
def change_plan(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    slug = lookup_value(request.POST, "plan")
    free = Plan.objects.filter(slug=slug, is_default=True, is_retired=False).first()
    if free is not None:
        return _move_to_free(request, membership, free)
    plan = _plan_for_sale(slug)
    # Without an interval the subscription keeps the one it is billed at.
    asked = request.POST.get("interval", "")
    interval = interval_for_sale(plan, asked) if asked else None
    try:
        outcome = flows.change_plan(
            membership.account,
            plan,
            request.user,
            downgrade_at_period_end=settings.BILLING_DOWNGRADE_AT_PERIOD_END,
            interval=interval,
        )
    except BillingError as error:
        messages.error(request, f"The plan could not be changed: {error}")
        return redirect(_billing_url(membership))
    if outcome == "scheduled":
        messages.success(request, f"You move to {plan.name} at the end of this billing period.")
    else:
        messages.success(request, f"Changing to {plan.name}: it shows here once Stripe confirms.")
    return redirect(_billing_url(membership))


def _move_to_free(
    request: AuthenticatedHttpRequest, membership: Membership, free: Plan
) -> HttpResponse:
    """Free is where a cancelled subscription leaves the account: at the period's end."""
    try:
        flows.set_cancel_at_period_end(membership.account, request.user, cancel=True)
    except BillingError as error:
        messages.error(request, f"The plan could not be changed: {error}")
        return redirect(_billing_url(membership))
    messages.success(request, f"You move to {free.name} at the end of this billing period.")
    return redirect(_billing_url(membership))


@require_POST
@account_view(Perm.MANAGE_BILLING)
def cancel(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    undo = request.POST.get("undo") == "1"
    try:
        flows.set_cancel_at_period_end(membership.account, request.user, cancel=not undo)
    except BillingError as error:
        messages.error(request, f"That did not work: {error}")
        return redirect(_billing_url(membership))
    messages.success(
        request,
        "Your subscription continues."
        if undo
        else "Your subscription ends at the end of this period.",
    )
    return redirect(_billing_url(membership))


@require_POST
@account_view(Perm.MANAGE_BILLING)
def portal(request: HttpRequest, membership: Membership) -> HttpResponse:
    try:
        url = flows.open_portal(membership.account, site_url(_billing_url(membership)))
    except BillingError as error:
        messages.error(request, f"The billing portal could not open: {error}")
        return redirect(_billing_url(membership))
    return redirect(url)


@csrf_exempt  # Stripe cannot send a CSRF token: the signature is the authentication.
@require_POST
def webhook(request: HttpRequest) -> JsonResponse:
    try:
        event = gateway.verify_webhook(request.body, request.headers.get("Stripe-Signature", ""))
    except BillingError as error:
        WEBHOOK_FAILURES.labels("signature").inc()
        return JsonResponse({"error": {"code": error.code, "message": str(error)}}, status=400)
    if StripeEvent.objects.record(event):
        from django.db import transaction

        from billing.tasks import apply_event

        transaction.on_commit(lambda: apply_event.delay(event["id"]))
        return JsonResponse({"received": True})
    return JsonResponse({"received": True, "duplicate": True})
