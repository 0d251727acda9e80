"""Every REST API error as {"code", "detail"[, "errors"]}: a stable code clients can branch on."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler

INVALID_DETAIL = "Some fields are invalid; see errors."


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
            "detail": INVALID_DETAIL,
            "errors": response.data,
        }
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = {"code": getattr(detail, "code", "error"), "detail": str(detail)}
    return response


@csrf_exempt  # it changes nothing, and a token client's POST must get JSON, not the CSRF page
def endpoint_not_found(request: HttpRequest, path: str) -> JsonResponse:
    """Any other path under /api/: a JSON 404 like every API error, never the HTML page.

    Routed last, so it also replaces APPEND_SLASH's redirect (which would drop a POST's body):
    the detail names the right path instead."""
    detail = "No such endpoint; the reference is at /api/docs/."
    if not request.path.endswith("/") and _is_endpoint(request.path + "/"):
        detail = f"No such endpoint; did you mean {request.path}/ (with the slash)?"
    return JsonResponse({"code": "not_found", "detail": detail}, status=404)


def _is_endpoint(path: str) -> bool:
    try:
        return resolve(path).func is not endpoint_not_found
    except Resolver404:
        return False


# --- what Django itself answers: handler400 and handler500 (portal/urls.py) -------------------
# A request too large (DATA_UPLOAD_MAX_MEMORY_SIZE) fails as Django reads it, before any view,
# and an unexpected exception ends in Django's server_error: both would be HTML pages, where an
# API client was promised {"code", "detail"}. The site's pages stay HTML.


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        detail = "The request body is larger than the API accepts."
        return JsonResponse({"code": "request_too_large", "detail": detail}, status=413)
    if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
        detail = "The request has more fields than the API accepts."
        return JsonResponse({"code": "too_many_fields", "detail": detail}, status=400)
    detail = "The request could not be understood."
    return JsonResponse({"code": "bad_request", "detail": detail}, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    if not is_api(request):
        return defaults.server_error(request)
    detail = "Something went wrong on our side; it has been logged. Please try again."
    return JsonResponse({"code": "server_error", "detail": detail}, status=500)


class ApiErrorSerializer(serializers.Serializer[dict[str, Any]]):
    """The body of every API error, for the OpenAPI schema."""

    code = serializers.CharField(help_text="Stable and machine-readable, e.g. not_found")
    detail = serializers.CharField(help_text="A sentence for people")
    # DRF's metaclass moves declared fields out of the class, so this does not replace
    # Serializer.errors as the stubs think.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.JSONField(),
        required=False,
        help_text="With code invalid: messages per field (nested like the input)",
    )


# --- documenting errors in the schema -------------------------------------------------------
# Each endpoint lists the errors it can answer, each with an example body, so clients see the
# codes they should branch on next to the status (tests/portal/test_api_reference.py checks it).


def error_example(code: str, detail: str, errors: dict[str, Any] | None = None) -> OpenApiExample:
    value: dict[str, Any] = {"code": code, "detail": detail}
    if errors is not None:
        value["errors"] = errors
    return OpenApiExample(code, value=value)


def error_response(description: str, *examples: OpenApiExample) -> OpenApiResponse:
    return OpenApiResponse(ApiErrorSerializer, description=description, examples=list(examples))


def invalid(**errors: list[str]) -> OpenApiResponse:
    """A 400 whose example shows the messages per field, as a validation failure returns them."""
    return error_response(
        "Invalid input (`errors` has the messages per field), or a body that is not JSON",
        error_example("invalid", INVALID_DETAIL, errors),
        error_example(
            "parse_error", "JSON parse error - Expecting value: line 1 column 1 (char 0)"
        ),
    )


NOT_AUTHENTICATED = error_response(
    "No credentials, or a token that is malformed, unknown, expired or revoked",
    error_example("not_authenticated", "Authentication credentials were not provided."),
    error_example("invalid_token", "The token is malformed, unknown, expired or revoked."),
    error_example(
        "api_key_not_accepted",
        "That is an API key for the gateway; the portal API takes a personal access token "
        "(tg_pat_…) from your profile page.",
    ),
)
ACCOUNT_NOT_FOUND = error_response(
    "No such account, or you are not a member of it",
    error_example("not_found", "No such account"),
)
