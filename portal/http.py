"""The request types views annotate, so mypy knows what middleware and decorators guarantee.

HtmxMiddleware sets `request.htmx` on every request; `login_required`, `account_view` and DRF's
default `IsAuthenticated` permission let only signed-in people through, so `request.user` is a
`User` there, never an `AnonymousUser`.
"""

from __future__ import annotations

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails
from rest_framework.request import Request

from accounts.models import User


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


class AuthenticatedHttpRequest(HtmxHttpRequest):
    user: User


class AuthenticatedRequest(Request):
    """A DRF request past `IsAuthenticated` (the default permission class)."""

    user: User
