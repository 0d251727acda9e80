from __future__ import annotations

import secrets
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Account, User

DEMO_EMAIL = "demo@example.com"


def demo_password() -> str:
    """Generated once into var/ so it stays the same across restarts of make run."""
    path = settings.VAR_DIR / "demo-password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


class Command(BaseCommand):
    help = "Create (or refresh) the demo user demo@example.com with a verified email. Idempotent."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> str:
        password = demo_password()
        user = User.objects.filter(email=DEMO_EMAIL).first()
        if user is None:
            user = User.objects.create_user(DEMO_EMAIL, password, first_name="Demo")
        elif not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        EmailAddress.objects.update_or_create(
            user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
        )
        account = Account.objects.for_user(user).get(is_personal=True)
        if account.name != "Demo Co":
            account.name = "Demo Co"
            account.save(update_fields=["name"])
        return f"Log in at {settings.SITE_URL}/accounts/login/ as {DEMO_EMAIL} / {password}"
