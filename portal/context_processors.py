from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.access import current_account
from accounts.models import Account


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "site_name": settings.TOLLGATE_NAME,
        "site_logo_url": settings.TOLLGATE_LOGO_URL,
        "support_email": settings.TOLLGATE_SUPPORT_EMAIL,
        "home_headline": settings.TOLLGATE_HOME_HEADLINE,
        "home_lead": settings.TOLLGATE_HOME_LEAD,
        "site_url": settings.SITE_URL,
        "gateway_url": settings.GATEWAY_PUBLIC_URL,
        # Lazy: pages that never show the navigation never query for it.
        "current_account": SimpleLazyObject(lambda: current_account(request)),
        "user_accounts": SimpleLazyObject(
            lambda: (
                list(Account.objects.for_user(request.user))
                if request.user.is_authenticated
                else []
            )
        ),
    }
