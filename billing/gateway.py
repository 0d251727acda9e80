"""The one seam to Stripe: the only module that imports `stripe`.

It pins the API version once, sets an idempotency key on every create, returns plain dicts (the
rest of the code never sees SDK objects) and turns every SDK error into `BillingError` with a
message a person can read. `STRIPE_API_BASE` points it at the bundled simulator when no
`STRIPE_SECRET_KEY` is configured; with real test keys the same calls go to Stripe.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any, TypeVar

import stripe
from django.conf import settings

# Since 2025-03-31 the billing period lives on subscription items; we read it there.
STRIPE_API_VERSION = "2026-10-28.endive"
T = TypeVar("T")


class BillingError(Exception):
    """Stripe said no or could not be reached. `permanent` errors are not worth retrying."""

    def __init__(self, message: str, *, code: str = "", permanent: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.permanent = permanent


# The SDK's transport; None is its default (HTTP over the network). The unit tests put the
# simulator's in-process transport here (tests/billing/in_process.py): the same calls, no socket.
HTTP_CLIENT: stripe.HTTPClient | None = None


@cache
def _client(
    api_key: str, api_base: str, http_client: stripe.HTTPClient | None
) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        stripe_version=STRIPE_API_VERSION,
        base_addresses={"api": api_base},
        max_network_retries=2,
        http_client=http_client,
    )


def client() -> stripe.StripeClient:
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, HTTP_CLIENT)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except stripe.IdempotencyError as error:
        # A key reused with other parameters: a bug to report, never an outage to retry.
        raise BillingError(_message(error), code="idempotency_error", permanent=True) from None
    except stripe.InvalidRequestError as error:
        raise BillingError(
            _message(error), code=error.code or "invalid_request", permanent=True
        ) from None
    except stripe.CardError as error:
        raise BillingError(
            _message(error), code=error.code or "card_declined", permanent=True
        ) from None
    except stripe.AuthenticationError as error:
        raise BillingError(
            "Stripe rejected the API key.", code="authentication", permanent=True
        ) from error
    except stripe.StripeError as error:
        # Connection errors, rate limits and 5xx: worth retrying later.
        raise BillingError(
            f"Stripe is unavailable: {_message(error)}", code="unavailable"
        ) from None


def _message(error: stripe.StripeError) -> str:
    return error.user_message or str(error._message or "Stripe refused the request")


def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    with _translated():
        result = fn(*args, **kwargs)
    data: dict[str, Any] = result.to_dict()
    return data


def _create(service: Any, params: dict[str, Any], key: str | None) -> dict[str, Any]:
    """Every create carries an idempotency key: a retried create returns the first result."""
    return _call(
        service.create, params=params, options={"idempotency_key": key or str(uuid.uuid4())}
    )


def _list(service: Any, params: dict[str, Any]) -> list[dict[str, Any]]:
    with _translated():
        page = service.list(params={"limit": 100, **params})
        return [item.to_dict() for item in page.auto_paging_iter()]


# --- customers, checkout, portal ------------------------------------------------------------
def create_customer(email: str, name: str, metadata: dict[str, str], key: str) -> dict[str, Any]:
    params = {"email": email, "name": name, "metadata": metadata}
    return _create(client().v1.customers, params, key)


def create_checkout_session(params: dict[str, Any], key: str | None) -> dict[str, Any]:
    return _create(client().v1.checkout.sessions, params, key)


def retrieve_checkout_session(session_id: str) -> dict[str, Any]:
    return _call(client().v1.checkout.sessions.retrieve, session_id)


def retrieve_payment_intent(intent_id: str) -> dict[str, Any]:
    return _call(client().v1.payment_intents.retrieve, intent_id)


def charge_off_session(params: dict[str, Any], key: str) -> dict[str, Any]:
    """Charge a saved card with the customer away (`confirm`, `off_session`): the PaymentIntent,
    or BillingError `card_declined` (or `authentication_required`) when the bank says no."""
    params = {**params, "confirm": True, "off_session": True}
    return _create(client().v1.payment_intents, params, key)


def create_portal_session(
    customer_id: str, return_url: str, key: str | None = None
) -> dict[str, Any]:
    params = {"customer": customer_id, "return_url": return_url}
    return _create(client().v1.billing_portal.sessions, params, key)


# --- subscriptions and invoices ----------------------------------------------------------
def retrieve_subscription(subscription_id: str) -> dict[str, Any]:
    return _call(client().v1.subscriptions.retrieve, subscription_id)


def retrieve_card_on_file(subscription_id: str) -> dict[str, Any] | None:
    """The subscription's default payment method (a card), expanded in the same request."""
    params = {"expand": ["default_payment_method"]}
    data = _call(client().v1.subscriptions.retrieve, subscription_id, params=params)
    method = data.get("default_payment_method")
    return method if isinstance(method, dict) else None


def list_subscriptions(customer_id: str) -> list[dict[str, Any]]:
    return _list(client().v1.subscriptions, {"customer": customer_id, "status": "all"})


def update_subscription(subscription_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return _call(client().v1.subscriptions.update, subscription_id, params=params)


def cancel_subscription(subscription_id: str) -> dict[str, Any]:
    return _call(client().v1.subscriptions.cancel, subscription_id)


def create_subscription_schedule(subscription_id: str, key: str | None) -> dict[str, Any]:
    params = {"from_subscription": subscription_id}
    return _create(client().v1.subscription_schedules, params, key)


def update_subscription_schedule(schedule_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return _call(client().v1.subscription_schedules.update, schedule_id, params=params)


def release_subscription_schedule(schedule_id: str) -> dict[str, Any]:
    return _call(client().v1.subscription_schedules.release, schedule_id)


def retrieve_invoice(invoice_id: str) -> dict[str, Any]:
    return _call(client().v1.invoices.retrieve, invoice_id)


def list_invoices(customer_id: str) -> list[dict[str, Any]]:
    return _list(client().v1.invoices, {"customer": customer_id})


def preview_invoice(customer_id: str, subscription_id: str) -> dict[str, Any]:
    """The subscription's next invoice, with all its lines."""
    params = {"customer": customer_id, "subscription": subscription_id}
    return with_all_lines(_call(client().v1.invoices.create_preview, params=params))


def with_all_lines(invoice: dict[str, Any]) -> dict[str, Any]:
    """Stripe embeds an invoice's first lines only (ten); `has_more` says the rest are to be
    listed, which a preview's id allows too. A sum over `lines.data` needs them all."""
    lines = invoice["lines"]
    if lines["has_more"]:
        with _translated():
            page = client().v1.invoices.line_items.list(
                invoice["id"], params={"limit": 100, "starting_after": lines["data"][-1]["id"]}
            )
            rest = [line.to_dict() for line in page.auto_paging_iter()]
        invoice["lines"] = {**lines, "data": lines["data"] + rest, "has_more": False}
    return invoice


# --- catalog: products, prices, the meter ---------------------------------------------------
def retrieve_product(product_id: str) -> dict[str, Any] | None:
    try:
        return _call(client().v1.products.retrieve, product_id)
    except BillingError as error:
        if error.code == "resource_missing":
            return None
        raise


def create_product(params: dict[str, Any], key: str) -> dict[str, Any]:
    return _create(client().v1.products, params, key)


def update_product(product_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return _call(client().v1.products.update, product_id, params=params)


def prices_by_lookup_key(lookup_keys: list[str]) -> dict[str, dict[str, Any]]:
    prices = _list(client().v1.prices, {"lookup_keys": lookup_keys})
    return {price["lookup_key"]: price for price in prices}


def create_price(params: dict[str, Any], key: str) -> dict[str, Any]:
    return _create(client().v1.prices, params, key)


def update_price(price_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return _call(client().v1.prices.update, price_id, params=params)


def list_meters() -> list[dict[str, Any]]:
    return _list(client().v1.billing.meters, {})


def create_meter(params: dict[str, Any], key: str) -> dict[str, Any]:
    return _create(client().v1.billing.meters, params, key)


def create_meter_event(
    event_name: str, customer_id: str, value: int, identifier: str, timestamp: int
) -> dict[str, Any]:
    """Stripe dedupes meter events on `identifier`; the same identifier is its idempotency key.
    A resend Stripe refuses as a duplicate (after the idempotency key's 24 hours: "An event
    already exists with identifier ...", a 400 with no code) was delivered before."""
    params = {
        "event_name": event_name,
        "identifier": identifier,
        "timestamp": timestamp,
        "payload": {"stripe_customer_id": customer_id, "value": str(value)},
    }
    try:
        return _create(client().v1.billing.meter_events, params, f"meter-event:{identifier}")
    except BillingError as error:
        if error.code == "resource_already_exists" or str(error).startswith(DUPLICATE_EVENT):
            return {"identifier": identifier, "duplicate": True}
        raise


DUPLICATE_EVENT = "An event already exists with identifier"


# --- catalog: coupons and promotion codes ---------------------------------------------------
def retrieve_coupon(coupon_id: str) -> dict[str, Any] | None:
    try:
        return _call(client().v1.coupons.retrieve, coupon_id)
    except BillingError as error:
        if error.code == "resource_missing":
            return None
        raise


def create_coupon(params: dict[str, Any], key: str) -> dict[str, Any]:
    return _create(client().v1.coupons, params, key)


def promotion_codes(code: str) -> list[dict[str, Any]]:
    """The active promotion codes spelled `code` (Stripe allows one active code per spelling)."""
    return _list(client().v1.promotion_codes, {"code": code, "active": True})


def create_promotion_code(params: dict[str, Any], key: str | None) -> dict[str, Any]:
    return _create(client().v1.promotion_codes, params, key)


def deactivate_promotion_code(promotion_code_id: str) -> dict[str, Any]:
    return _call(client().v1.promotion_codes.update, promotion_code_id, params={"active": False})


# --- webhooks and events -------------------------------------------------------------------
def verify_webhook(payload: bytes, signature: str) -> dict[str, Any]:
    """The event in a webhook request, or BillingError if the signature, secret or age is wrong
    (code `bad_signature`) or the signed event is not the envelope Stripe sends (`invalid_event`).

    Verified with the SDK's own check (HMAC-SHA256, 300 s tolerance), then parsed as plain JSON:
    building SDK objects for an event we only store would cost more than the check itself.
    """
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode(), signature, settings.STRIPE_WEBHOOK_SECRET, tolerance=300
        )
        event = json.loads(payload)
    except (ValueError, UnicodeDecodeError, stripe.SignatureVerificationError) as error:
        raise BillingError(
            f"Invalid webhook: {error}", code="bad_signature", permanent=True
        ) from None
    if isinstance(event, dict) and event.get("object") == "v2.core.event":
        return checked_thin_event(event)
    return checked_envelope(event)


def retrieve_event_v2(event_id: str) -> dict[str, Any]:
    return _call(client().v2.core.events.retrieve, event_id)


# The last second a datetime can hold (9999-12-31T23:59:59Z): `created` beyond it cannot be stored.
_LAST_TIMESTAMP = 253_402_300_799


def checked_envelope(event: Any) -> dict[str, Any]:
    """Refuse, before anything is written, a signed event whose envelope is not Stripe's: every
    field we store must fit its column (PostgreSQL refuses NUL bytes and overlong strings)."""
    if not isinstance(event, dict):
        raise _bad_event("the event is not a JSON object")
    if not _is_text(event.get("id"), 255) or not _is_text(event.get("type"), 100):
        raise _bad_event("`id` and `type` must be non-empty strings")
    created = event.get("created")
    if type(created) is not int or not 0 < created <= _LAST_TIMESTAMP:
        raise _bad_event("`created` must be a Unix timestamp")
    data = event.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise _bad_event("`data.object` must be an object")
    object_id = data["object"].get("id", "")
    if object_id != "" and not _is_text(object_id, 255):
        raise _bad_event("`data.object.id` must be a string")
    return event


def checked_thin_event(event: dict[str, Any]) -> dict[str, Any]:
    """A thin notification of a v2 event (the event itself is fetched with retrieve_event_v2),
    refused like a malformed envelope unless what we store of it fits: `id`, `type`,
    `related_object.id` (null when the event has no object) and `created`."""
    if not {"id", "type", "related_object"} <= event.keys():
        raise _bad_event("not a Stripe event notification")
    if not _is_text(event["id"], 255) or not _is_text(event["type"], 100):
        raise _bad_event("`id` and `type` must be non-empty strings")
    related = event["related_object"]
    if related is not None and not isinstance(related, dict):
        raise _bad_event("`related_object` must be an object or null")
    object_id = (related or {}).get("id", "")
    if object_id != "" and not _is_text(object_id, 255):
        raise _bad_event("`related_object.id` must be a string")
    created = event.get("created")
    if created is not None and not _is_storable_time(created):
        raise _bad_event("`created` must be an ISO 8601 time")
    return event


def _is_storable_time(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    # A column holds years 1 to 9999 in UTC: an offset must not push it past either end.
    return moment.tzinfo is not None and 1970 <= moment.year < 9999


def _is_text(value: object, max_length: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= max_length and "\x00" not in value


def _bad_event(reason: str) -> BillingError:
    return BillingError(f"Invalid webhook: {reason}", code="invalid_event", permanent=True)
