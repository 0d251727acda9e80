from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.access import account_view, current_account
from accounts.models import Membership
from accounts.roles import Perm
from billing.views import allow_stripe_form_redirects, interval_for_sale
from onboarding import continuity, first_call
from portal.http import AuthenticatedHttpRequest


@require_GET
def choose_plan(request: HttpRequest, plan_slug: str) -> HttpResponse:
    """The pricing page's "Sign up to choose …": remember the plan and its interval (`?interval=`
    month, the default, or year; a price the plan is not sold at is a 404, as in Checkout), then
    sign up (or, for someone already signed in, go straight on to Checkout)."""
    plan = continuity.plan_for_sale(plan_slug)
    if plan is None:
        raise Http404("No such plan")
    interval = interval_for_sale(plan, request.GET.get("interval", ""))
    continuity.remember_plan(request, plan, interval)
    if request.user.is_authenticated:
        return redirect("continue_checkout")
    return redirect("account_signup")


@require_GET
@login_required
@allow_stripe_form_redirects
def continue_checkout(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The first page after sign-up, verification or login when a plan was chosen: a form to
    that plan's Checkout, which the page submits by itself (a button without JavaScript)."""
    plan = continuity.chosen_plan(request)
    account = current_account(request)
    interval = continuity.chosen_interval(request, plan) if plan else "month"
    if plan is None or account is None:
        continuity.forget_plan(request)
        return redirect(continuity.landing_url(request) or reverse("home"))
    membership = Membership.objects.get(account=account, user=request.user)
    if not membership.can(Perm.MANAGE_BILLING):
        continuity.forget_plan(request)
        return redirect("account_home", account.slug)
    continuity.forget_plan(request)  # offered once: a later login lands on the dashboard
    context = {"plan": plan, "account": account, "interval": interval}
    return render(request, "onboarding/continue_checkout.html", context)


@require_GET
@account_view(Perm.VIEW_USAGE)
def first_call_checklist(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    """The dashboard's checklist, polled by the page until the first call has arrived."""
    checklist = first_call.checklist_for(membership.account, request.user)
    return render(
        request,
        "onboarding/_first_call.html",
        {"checklist": checklist, "account": membership.account},
    )
