from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.urls import reverse


def pending_invitation_url(request: HttpRequest) -> str | None:
    # Someone who opened an invitation link, then signed up (and verified) or logged in, goes
    # back to the invitation to accept it.
    from accounts.views import INVITATION_SESSION_KEY

    token = request.session.get(INVITATION_SESSION_KEY)
    return reverse("invitation", args=[token]) if token else None


class AccountAdapter(DefaultAccountAdapter):
    """Where Tollgate bends allauth, and only here."""

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        return pending_invitation_url(request) or super().get_login_redirect_url(request)

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return pending_invitation_url(request) or super().get_signup_redirect_url(request)
