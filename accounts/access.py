"""How a view finds the account in its URL and checks the member's permission.

Every account page lives under /a/<account_slug>/. A person who is not a member gets 404 (we do
not reveal that the account exists); a member whose role lacks the permission gets a clear 403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase

from accounts.models import Account, Membership, User
from accounts.roles import Perm
from portal.http import AuthenticatedHttpRequest

P = ParamSpec("P")
SESSION_ACCOUNT_KEY = "current_account"


def get_membership_for_user(user: User, account_slug: str) -> Membership:
    membership = (
        Membership.objects.select_related("account", "account__plan")
        .filter(user=user, account__slug=account_slug, account__closed_at__isnull=True)
        .first()
    )
    if membership is None:
        raise Http404("No such account")
    return membership


def require(membership: Membership, perm: Perm) -> None:
    if not membership.can(perm):
        raise PermissionDenied(f"Your role ({membership.get_role_display()}) cannot do this.")


def membership_allowing(user: User, account_slug: str, perm: Perm) -> Membership:
    """The check every account page and API endpoint makes: 404 unless `user` is a member of
    the open account, 403 unless their role allows `perm`."""
    membership = get_membership_for_user(user, account_slug)
    require(membership, perm)
    return membership


def account_view(
    perm: Perm,
) -> Callable[
    [Callable[Concatenate[AuthenticatedHttpRequest, Membership, P], HttpResponseBase]],
    Callable[..., HttpResponseBase],
]:
    """Decorate a view taking (request, membership, ...) and routed with <account_slug>."""

    def decorator(
        view: Callable[Concatenate[AuthenticatedHttpRequest, Membership, P], HttpResponseBase],
    ) -> Callable[..., HttpResponseBase]:
        @login_required
        @wraps(view)
        def wrapper(
            request: AuthenticatedHttpRequest, account_slug: str, *args: Any, **kwargs: Any
        ) -> Any:
            membership = membership_allowing(request.user, account_slug, perm)
            request.session[SESSION_ACCOUNT_KEY] = membership.account.slug
            return view(request, membership, *args, **kwargs)

        return wrapper

    return decorator


def current_account(request: HttpRequest) -> Account | None:
    """The account the person last worked in, else their first (personal) one."""
    if not request.user.is_authenticated:
        return None
    accounts = Account.objects.for_user(request.user)
    slug = request.session.get(SESSION_ACCOUNT_KEY)
    return (slug and accounts.filter(slug=slug).first()) or accounts.order_by(
        "-is_personal", "id"
    ).first()
