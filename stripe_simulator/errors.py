"""Errors in Stripe's shape: {"error": {"type", "code", "param", "message", "doc_url"}}."""

from __future__ import annotations

ERRORS_DOC = "https://docs.stripe.com/error-codes"


class StripeError(Exception):
    """`executed`: the endpoint had started its work (Stripe keeps such a result for replay
    under the request's idempotency key; a request refused by validation is not kept)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str = "",
        param: str = "",
        kind: str = "",
        *,
        executed: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.executed = executed
        error: dict[str, str] = {"type": kind or "invalid_request_error", "message": message}
        if code:
            error["code"] = code
            error["doc_url"] = f"{ERRORS_DOC}/{code.replace('_', '-')}"
        if param:
            error["param"] = param
        self.body = {"error": error}


def missing(kind: str, object_id: str, param: str = "id") -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", "resource_missing", param)


def invalid(param: str, message: str, code: str = "") -> StripeError:
    """A request refused before the endpoint ran (bad or unknown parameters)."""
    return StripeError(400, message, code, param, executed=False)


def unimplemented(param: str, what: str) -> StripeError:
    """A value Stripe accepts that the simulator does not implement: refused, never ignored."""
    return invalid(param, f"{what}: Stripe accepts it; the Stripe simulator does not implement it.")
