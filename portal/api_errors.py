"""Every REST API error as {"code", "detail"[, "errors"]}: a stable code clients can branch on."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or None)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django logs it and answers 500
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "detail": "Some fields are invalid; see errors.",
            "errors": response.data,
        }
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = {"code": getattr(detail, "code", "error"), "detail": str(detail)}
    return response


class ApiErrorSerializer(serializers.Serializer):  # type: ignore[type-arg]
    """The body of every API error, for the OpenAPI schema."""

    code = serializers.CharField(help_text="Stable and machine-readable, e.g. not_found")
    detail = serializers.CharField(help_text="A sentence for people")
    errors = serializers.DictField(
        child=serializers.JSONField(),
        required=False,
        help_text="With code invalid: messages per field (nested like the input)",
    )
