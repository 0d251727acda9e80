from __future__ import annotations

from typing import Any
from urllib.parse import quote

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailConfirmation, EmailConfirmationHMAC
from django.http import HttpRequest
from django.urls import reverse

from accounts.addresses import canonical_email
from core.links import site_url
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


def landing_url(request: HttpRequest) -> str | None:
    # The plan chosen on the pricing page goes on to Checkout; otherwise the account's dashboard.
    from onboarding.continuity import landing_url

    return landing_url(request)


def pending_invitation_url(request: HttpRequest) -> str | None:
    # Someone who opened an invitation link, then signed up (and verified) or logged in, goes
    # back to the invitation to accept it.
    from accounts.views import INVITATION_SESSION_KEY

    token = request.session.get(INVITATION_SESSION_KEY)
    return reverse("invitation", args=[token]) if token else None


class AccountAdapter(DefaultAccountAdapter):
    """Where Tollgate bends allauth, and only here."""

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        return (
            pending_invitation_url(request)
            or landing_url(request)
            or super().get_login_redirect_url(request)
        )

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return (
            pending_invitation_url(request)
            or landing_url(request)
            or super().get_signup_redirect_url(request)
        )

    def clean_email(self, email: str) -> str:
        # Sign-up, added addresses and password resets: one spelling per mailbox, so that
        # allauth's uniqueness checks and its per-address limits count mailboxes.
        return canonical_email(super().clean_email(email))

    def get_email_confirmation_url(
        self,
        request: HttpRequest | None,
        emailconfirmation: EmailConfirmation | EmailConfirmationHMAC,
    ) -> str:
        return site_url(reverse("account_confirm_email", args=[emailconfirmation.key]))

    def get_reset_password_from_key_url(self, key: str) -> str:
        # allauth's own path shape: one opaque "<uidb36>-<key>" segment.
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return site_url(path.replace("UID-KEY", quote(key)))

    def send_account_already_exists_mail(self, email: str) -> None:
        context = {
            "signup_url": site_url(reverse("account_signup")),
            "password_reset_url": site_url(reverse("account_reset_password")),
        }
        self.send_mail("account/email/account_already_exists", email, context)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        if "signup_url" in context:  # the unknown-account mail's, built from the request
            context = {**context, "signup_url": site_url(reverse("account_signup"))}
        if template_prefix == "account/email/email_confirmation":
            # An address added to an existing account: say which account, so that its owner
            # never confirms someone else's claim on it thinking it is their own sign-up.
            context = {**context, "added_to": context["user"].email}
        name = ALLAUTH_EMAILS.get(template_prefix)
        if name is None:
            super().send_mail(template_prefix, email, context)
            return
        send(name, [email], {"email": email, **context})
