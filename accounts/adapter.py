from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.urls import reverse


class AccountAdapter(DefaultAccountAdapter):
    """Where Tollgate bends allauth, and only here."""

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        # Someone who opened an invitation link, then signed up (and verified) or logged in,
        # goes back to the invitation to accept it.
        from accounts.views import INVITATION_SESSION_KEY

        token = request.session.get(INVITATION_SESSION_KEY)
        if token:
            return reverse("invitation", args=[token])
        return super().get_login_redirect_url(request)
