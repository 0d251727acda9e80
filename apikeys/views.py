"""The keys page (/a/<account_slug>/keys/) and the personal access tokens page (/profile/tokens/).

A raw key or token is rendered into exactly one response, the one answering the POST that made
it; nothing stores it, so a POST answers with the page (or its htmx partial) instead of a redirect.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import account_view
from accounts.models import Membership, User
from accounts.roles import Perm
from apidocs.catalogue import KEY_PLACEHOLDER
from apikeys.forms import (
    CreateKeyForm,
    RestrictionsForm,
    RotateForm,
    TokenForm,
    product_choices,
)
from apikeys.models import (
    GRACE_PERIODS,
    ApiKey,
    KeyActionError,
    PersonalAccessToken,
    keys_of_former_members,
    max_keys,
    token_expiry,
)
from core.audit import AuditContext
from onboarding.first_call import first_curl
from portal.http import AuthenticatedHttpRequest

RECENTLY_REVOKED_SHOWN = 10


def _get_key(membership: Membership, key_id: str) -> ApiKey:
    return get_object_or_404(ApiKey, account=membership.account, public_id=key_id)


def _key_rows(membership: Membership, edit_forms: dict[str, RestrictionsForm]) -> dict[str, Any]:
    now = timezone.now()
    all_keys = list(membership.account.api_keys.select_related("created_by", "replaced_by"))
    working = [k for k in all_keys if k.is_usable(now)]
    choices = product_choices()  # once for the page, not once per key's edit form
    return {
        "rows": [
            (
                key,
                edit_forms.get(key.public_id)
                or RestrictionsForm(
                    initial=_initial(key), products=choices, auto_id=_edit_ids(key.public_id)
                ),
            )
            for key in working
        ],
        "stopped": [k for k in all_keys if not k.is_usable(now)][:RECENTLY_REVOKED_SHOWN],
        "of_former_members": keys_of_former_members(membership.account, working),
        "live_limit": max_keys(membership.account, "live"),
        "live_count": sum(1 for k in working if k.environment == "live" and not k.grace_ends_at),
    }


def _initial(key: ApiKey) -> dict[str, Any]:
    return RestrictionsForm.initial_for(key)


def _edit_ids(key_id: str) -> str:
    """Each row's edit form gets its own element ids, so every label points at its own field."""
    return f"{key_id}_%s"


def ready_request(user: User, raw_key: str) -> str | None:
    """A first request with the new key filled in, shown beside it (the one time it is shown)."""
    curl = first_curl(user)
    return curl.replace(KEY_PLACEHOLDER, raw_key) if curl else None


def _render_keys(
    request: AuthenticatedHttpRequest,
    membership: Membership,
    *,
    status: int = 200,
    edit_forms: dict[str, RestrictionsForm] | None = None,
    **extra: Any,
) -> HttpResponse:
    context = {
        "account": membership.account,
        "create_form": CreateKeyForm(),
        "rotate_form": RotateForm(),
        **_key_rows(membership, edit_forms or {}),
        **extra,
    }
    if extra.get("raw_key"):
        context["ready_request"] = ready_request(request.user, extra["raw_key"])
    if request.htmx:
        # htmx swaps only 2xx answers: the partial carries the error message itself.
        return render(request, "apikeys/keys.html#key-panel", context)
    return render(request, "apikeys/keys.html", context, status=status)


@require_GET
@account_view(Perm.MANAGE_KEYS)
def keys_page(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    return _render_keys(request, membership)


@require_POST
@account_view(Perm.MANAGE_KEYS)
def create_key(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    form = CreateKeyForm(request.POST)
    if form.is_valid():
        try:
            key, raw = ApiKey.objects.issue(
                membership.account,
                name=form.cleaned_data["name"],
                environment=form.cleaned_data["environment"],
                created_by=request.user,
                expires_at=form.cleaned_data["expires_at"],
                restrictions=form.restriction_values(),
                audit_context=AuditContext.of(request),
            )
            return _render_keys(request, membership, new_key=key, raw_key=raw)
        except KeyActionError as error:
            form.add_error(None, error.message)
    return _render_keys(request, membership, create_form=form, status=400, show_create=True)


@require_POST
@account_view(Perm.MANAGE_KEYS)
def rotate_key(
    request: AuthenticatedHttpRequest, membership: Membership, key_id: str
) -> HttpResponse:
    key = _get_key(membership, key_id)
    form = RotateForm(request.POST)
    if not form.is_valid():
        return _render_keys(request, membership, status=400, error="Choose a grace window.")
    grace: timedelta = GRACE_PERIODS[form.cleaned_data["grace"]]
    try:
        new, raw = key.rotate(grace, actor=request.user, audit_context=AuditContext.of(request))
    except KeyActionError as error:
        return _render_keys(request, membership, status=409, error=error.message)
    return _render_keys(request, membership, new_key=new, raw_key=raw, rotated=key)


@require_POST
@account_view(Perm.MANAGE_KEYS)
def revoke_key(
    request: AuthenticatedHttpRequest, membership: Membership, key_id: str
) -> HttpResponse:
    key = _get_key(membership, key_id)
    key.revoke(actor=request.user, audit_context=AuditContext.of(request))
    return _render_keys(request, membership, notice=f"“{key.name}” ({key.masked}) is revoked.")


@require_POST
@account_view(Perm.MANAGE_KEYS)
def update_key(
    request: AuthenticatedHttpRequest, membership: Membership, key_id: str
) -> HttpResponse:
    key = _get_key(membership, key_id)
    form = RestrictionsForm(request.POST, auto_id=_edit_ids(key.public_id))
    if not form.is_valid():
        return _render_keys(request, membership, status=400, edit_forms={key.public_id: form})
    changes = {"name": form.cleaned_data["name"], **form.restriction_values()}
    try:
        key.update_details(changes, actor=request.user, audit_context=AuditContext.of(request))
    except KeyActionError as error:
        return _render_keys(request, membership, status=409, error=error.message)
    return _render_keys(request, membership, notice=f"“{key.name}” is saved.")


def _render_tokens(
    request: AuthenticatedHttpRequest, *, status: int = 200, **extra: Any
) -> HttpResponse:
    context = {
        "tokens": PersonalAccessToken.objects.active().filter(user=request.user),
        "form": TokenForm(),
        **extra,
    }
    if request.htmx:
        return render(request, "apikeys/tokens.html#token-panel", context)
    return render(request, "apikeys/tokens.html", context, status=status)


@require_GET
@login_required
def tokens_page(request: AuthenticatedHttpRequest) -> HttpResponse:
    return _render_tokens(request)


@require_POST
@login_required
def create_token(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _render_tokens(request, form=form, status=400)
    token, raw = PersonalAccessToken.objects.issue(
        request.user,
        name=form.cleaned_data["name"],
        expires_at=token_expiry(form.cleaned_data["expires_in_days"]),
        audit_context=AuditContext.of(request),
    )
    return _render_tokens(request, new_token=token, raw_token=raw)


@require_POST
@login_required
def revoke_token(request: AuthenticatedHttpRequest, token_id: str) -> HttpResponse:
    token = get_object_or_404(PersonalAccessToken, user=request.user, public_id=token_id)
    token.revoke(audit_context=AuditContext.of(request))
    return _render_tokens(request, notice=f"“{token.name}” is revoked.")
