from __future__ import annotations

import json

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import account_view
from accounts.models import Membership
from accounts.roles import Perm
from billing.gateway import BillingError
from catalog.models import CreditPack, Plan
from credits import purchases, reports
from credits.forms import TopUpForm
from credits.models import CreditWallet, TimePass, TopUp
from portal.http import AuthenticatedHttpRequest


def packs_for_sale() -> list[CreditPack]:
    return list(CreditPack.objects.filter(is_retired=False).exclude(stripe_price_id=""))


def passes_for_sale() -> list[Plan]:
    plans = Plan.objects.filter(is_public=True, is_retired=False, pass_days__isnull=False)
    return list(plans.exclude(stripe_pass_price_id=""))


@require_GET
@account_view(Perm.VIEW_INVOICES)
def credits_page(request: HttpRequest, membership: Membership) -> HttpResponse:
    account = membership.account
    wallet = CreditWallet.objects.filter(account=account).select_related("topup_pack").first()
    now = timezone.now()
    ctx = {
        "account": account,
        "wallet": wallet,
        "balance": reports.current_balance(account),
        "ledger": reports.ledger_lines(account),
        "balance_json": json.dumps(reports.balance_series(account)),
        "packs": packs_for_sale(),
        "passes": passes_for_sale(),
        "time_passes": TimePass.objects.filter(account=account).select_related("plan")[:10],
        "now": now,
        "topups": TopUp.objects.filter(account=account).select_related("pack")[:5],
        "can_manage": membership.can(Perm.MANAGE_BILLING),
        "form": TopUpForm(wallet=wallet) if wallet else None,
    }
    return render(request, "credits/credits.html", ctx)


def _purchase(
    request: AuthenticatedHttpRequest, membership: Membership, kind: str, item: CreditPack | Plan
) -> HttpResponse:
    page = request.build_absolute_uri(reverse("credits", args=[membership.account.slug]))
    try:
        url = purchases.start_purchase(
            membership.account, request.user, kind, item, f"{page}?paid=1", page
        )
    except BillingError as error:
        messages.error(request, f"Checkout could not start: {error}")
        return redirect(page)
    return redirect(url)


@require_POST
@account_view(Perm.MANAGE_BILLING)
def buy_pack(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    pack = next((p for p in packs_for_sale() if p.slug == request.POST.get("pack")), None)
    if pack is None:
        raise Http404("No such credit pack for sale.")
    return _purchase(request, membership, "credits", pack)


@require_POST
@account_view(Perm.MANAGE_BILLING)
def buy_pass(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    plan = next((p for p in passes_for_sale() if p.slug == request.POST.get("plan")), None)
    if plan is None:
        raise Http404("No such time pass for sale.")
    return _purchase(request, membership, "pass", plan)


@require_POST
@account_view(Perm.MANAGE_BILLING)
def top_up_settings(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    wallet = CreditWallet.objects.filter(account=membership.account).first()
    if wallet is None:
        raise Http404("Buy credits first.")
    form = TopUpForm(request.POST, wallet=wallet)
    if form.is_valid():
        form.save()
        messages.success(request, "Credit settings saved.")
    else:
        errors = "; ".join(str(e) for field in form.errors.values() for e in field)
        messages.error(request, f"Not saved: {errors}")
    return redirect("credits", membership.account.slug)
