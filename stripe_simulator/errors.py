"""Errors in Stripe's shape: {"error": {"type", "code", "param", "message", "doc_url"}}."""

from __future__ import annotations

ERRORS_DOC = "https://docs.stripe.com/error-codes"
VALIDATION_CODES = frozenset(
    {
        "parameter_unknown",
        "parameter_missing",
        "parameter_invalid_integer",
        "parameter_invalid_string_empty",
        "parameter_invalid_empty",
        "parameter_invalid",
        "url_invalid",
    }
)


class StripeError(Exception):
    def __init__(
        self, status: int, message: str, code: str = "", param: str = "", kind: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        error: dict[str, str] = {"type": kind or "invalid_request_error", "message": message}
        if code:
            error["code"] = code
            error["doc_url"] = f"{ERRORS_DOC}/{code.replace('_', '-')}"
        if param:
            error["param"] = param
        self.body = {"error": error}
        # Validation errors are raised before an endpoint starts executing: not kept for replay.
        self.executed = code not in VALIDATION_CODES


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", "resource_missing", param)


def invalid(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, message, code, param)
