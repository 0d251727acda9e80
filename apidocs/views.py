from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from accounts.access import current_account
from accounts.models import Account, Membership
from accounts.roles import Perm
from apidocs.catalogue import KEY_PLACEHOLDER, operations, served_spec, visible_products
from apikeys.models import ApiKey, Environment, KeyActionError
from catalog.models import ApiProduct
from core.audit import AuditContext
from portal.http import AuthenticatedHttpRequest

DOCS_KEY_NAME = "Docs try-it key"


def _get_product_for_user(request: HttpRequest, slug: str) -> ApiProduct:
    product = visible_products(request.user).filter(slug=slug).first()
    if product is None:
        raise Http404("No such API product")
    return product


def _key_membership(request: HttpRequest) -> Membership | None:
    """The membership in the current account, if it may create keys there."""
    account = current_account(request)
    if account is None or not request.user.is_authenticated:  # None for visitors anyway
        return None
    membership = Membership.objects.filter(account=account, user=request.user).first()
    return membership if membership is not None and membership.can(Perm.MANAGE_KEYS) else None


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    products = visible_products(request.user)
    return render(request, "apidocs/index.html", {"products": products})


@require_GET
def getting_started(request: HttpRequest) -> HttpResponse:
    product = visible_products(request.user).exclude(openapi_spec=None).first()
    calls = operations(product) if product else []
    first_call = next((op for op in calls if op.method == "GET"), None)
    return render(
        request,
        "apidocs/getting_started.html",
        {"product": product, "first_call": first_call, "key_placeholder": KEY_PLACEHOLDER},
    )


@require_GET
def product_reference(request: HttpRequest, slug: str) -> HttpResponse:
    product = _get_product_for_user(request, slug)
    membership = _key_membership(request) if request.user.is_authenticated else None
    context = {
        "product": product,
        "operations": operations(product),
        "key_placeholder": KEY_PLACEHOLDER,
        "key_account": membership.account if membership else None,
    }
    response = render(request, "apidocs/product.html", context)
    # "Try it" calls go to the gateway, which may be another origin than the portal.
    # (django-csp reads this per-response attribute; Django's stubs do not know it.)
    response._csp_update = {  # type: ignore[attr-defined]
        "style-src": ["'unsafe-inline'"],  # Swagger UI sets inline styles as it renders
        "connect-src": [settings.GATEWAY_PUBLIC_URL],
    }
    return response


@require_GET
def product_spec(request: HttpRequest, slug: str) -> JsonResponse:
    product = _get_product_for_user(request, slug)
    if not product.openapi_spec:
        return JsonResponse(
            {"code": "no_spec", "detail": "This product has no spec yet."}, status=404
        )
    return JsonResponse(served_spec(product))


@login_required
@require_POST
def create_test_key(request: AuthenticatedHttpRequest) -> JsonResponse:
    """One click on a reference page: a new test key, shown once to this browser only."""
    membership = _key_membership(request)
    if membership is None:
        return JsonResponse(
            {"code": "forbidden", "detail": "Your role in this account cannot create keys."},
            status=403,
        )
    account: Account = membership.account
    try:
        key, raw = ApiKey.objects.issue(
            account, name=DOCS_KEY_NAME, environment=Environment.TEST,
            created_by=request.user, audit_context=AuditContext.of(request),
        )  # fmt: skip
    except KeyActionError as refusal:
        return JsonResponse({"code": refusal.code, "detail": refusal.message}, status=409)
    return JsonResponse(
        {"key": raw, "key_id": key.public_id, "account": account.slug, "name": key.name},
        status=201,
    )
