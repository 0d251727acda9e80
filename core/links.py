"""Absolute links to the portal, always on SITE_URL.

Django would build them from the request's Host header, which a client chooses (any name in
ALLOWED_HOSTS reaches us): a password-reset link, an invitation or a Checkout return address
could then point at a host that harvests the token or the customer.
"""

from __future__ import annotations

from django.conf import settings


def site_url(path: str) -> str:
    return settings.SITE_URL + path
