from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django.http import HttpRequest
from django.urls import reverse

from portal.emails import send

# allauth's emails that Tollgate sends as its own subject/text/HTML triples (templates/emails/);
# any other allauth email (e.g. security notifications, if switched on) keeps allauth's templates.
ALLAUTH_EMAILS = {
    "account/email/email_confirmation": "verify-email",
    "account/email/email_confirmation_signup": "verify-email",
    "account/email/password_reset_key": "password-reset",
    "account/email/unknown_account": "unknown-account",
    "account/email/account_already_exists": "account-exists",
}


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

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        name = ALLAUTH_EMAILS.get(template_prefix)
        if name is None:
            super().send_mail(template_prefix, email, context)
            return
        send(name, [email], {"email": email, **context})
