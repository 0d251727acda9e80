"""The plan a visitor chose on the pricing page, and its billing interval, carried through
sign-up and verification.

It lives in the session: signing up, confirming the address (in the same browser) and the login
that follows keep the session, so the first page after them can offer that plan's Checkout.
"""

from __future__ import annotations

from django.http import HttpRequest
from django.urls import reverse

from accounts.access import current_account
from catalog.models import Plan

CHOSEN_PLAN_SESSION_KEY = "chosen_plan"
# Its own key: sessions saved before yearly billing hold the plan alone, and mean monthly.
CHOSEN_INTERVAL_SESSION_KEY = "chosen_interval"


def plan_for_sale(slug: str) -> Plan | None:
    """A plan someone may buy: public, not retired, with a Stripe price (free plans need none)."""
    return (
        Plan.objects.filter(slug=slug, is_public=True, is_retired=False)
        .exclude(stripe_price_id="")
        .first()
    )


def remember_plan(request: HttpRequest, plan: Plan, interval: str = "month") -> None:
    request.session[CHOSEN_PLAN_SESSION_KEY] = plan.slug
    request.session[CHOSEN_INTERVAL_SESSION_KEY] = interval


def chosen_plan(request: HttpRequest) -> Plan | None:
    slug = request.session.get(CHOSEN_PLAN_SESSION_KEY)
    return plan_for_sale(slug) if isinstance(slug, str) else None


def chosen_interval(request: HttpRequest, plan: Plan) -> str:
    """Year if that was chosen and `plan` is still sold yearly (the catalog may have dropped
    the yearly price since); month otherwise."""
    asked = request.session.get(CHOSEN_INTERVAL_SESSION_KEY)
    return "year" if asked == "year" and plan.sold_yearly else "month"


def forget_plan(request: HttpRequest) -> None:
    request.session.pop(CHOSEN_PLAN_SESSION_KEY, None)
    request.session.pop(CHOSEN_INTERVAL_SESSION_KEY, None)


def landing_url(request: HttpRequest) -> str | None:
    """Where someone lands after signing up or in: the chosen plan's Checkout, else the
    dashboard of the account they work in."""
    if chosen_plan(request) is not None:
        return reverse("continue_checkout")
    account = current_account(request)
    return reverse("account_home", args=[account.slug]) if account else None
