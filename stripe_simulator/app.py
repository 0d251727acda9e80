"""The simulator's HTTP face: Stripe's /v1 API subset, hosted pages, and test controls.

It speaks what the real `stripe` SDK sends: form-encoded bodies with bracketed keys
(``items[0][price]=...``), ``expand[]``, ``Idempotency-Key`` headers, list objects, and errors in
Stripe's shape. Hosted pages (Checkout, Customer Portal, invoices) are plain HTML forms.
``/_sim/...`` endpoints let tests and the demo advance time and make payments fail.
"""

from __future__ import annotations

import copy
import html
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from stripe_simulator import (
    catalog,
    checkout,
    coupons,
    customers,
    expansion,
    invoices,
    meters,
    params,
    payment_intents,
    portal,
    schedules,
    stripe_params,
    subscriptions,
)
from stripe_simulator.errors import StripeError, invalid, missing, unimplemented
from stripe_simulator.shapes import list_object
from stripe_simulator.store import Store
from stripe_simulator.webhooks import Deliverer

log = logging.getLogger("stripe_simulator")
Handler = Callable[[Store, dict[str, Any], "re.Match[str]"], Any]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding to nested dicts; dicts keyed 0..n become lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if part == "[]":
                part = str(len(node))
            if not isinstance(node, dict) or (last and isinstance(node.get(part), dict)):
                raise invalid(key, f"Invalid hash: {key} is given both as a value and a hash")
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    form: dict[str, Any] = _listify(root)  # Stripe's parameters are named: a dict
    return form


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


def paginate(found: list[dict[str, Any]], p: dict[str, Any], url: str) -> dict[str, Any]:
    """Stripe's cursor pagination: newest first, `starting_after`/`ending_before` an id."""
    size = params.limit(p)
    ids = [o["id"] for o in found]
    for cursor in ("starting_after", "ending_before"):
        if p.get(cursor) and p[cursor] not in ids:
            kind = found[0]["object"] if found else "object"
            raise missing(kind, p[cursor], cursor)
    if p.get("starting_after"):
        found = found[ids.index(p["starting_after"]) + 1 :]
        return list_object(found[:size], url, has_more=len(found) > size)
    if p.get("ending_before"):
        found = found[: ids.index(p["ending_before"])]
        return list_object(found[-size:], url, has_more=len(found) > size)
    return list_object(found[:size], url, has_more=len(found) > size)


def listed(kind: str, url: str) -> Handler:
    """A list endpoint: the objects of `kind` its filters match (lists.py), a page of them."""
    return lambda s, p, m: paginate(s.list_for(kind, p), p, url)


STR, INT, BOOL, DEC = params.STRING, params.INTEGER, params.BOOLEAN, params.DECIMAL
META, RANGE = params.METADATA, params.RANGE
EXPAND, LIST = params.EXPAND, params.LIST
INTERVAL = ("day", "week", "month", "year")
PRORATION = ("always_invoice", "create_prorations", "none")
SUB_STATUS = ("active", "all", "canceled", "ended", "incomplete", "incomplete_expired",
              "past_due", "paused", "trialing", "unpaid")  # fmt: skip
INVOICE_STATUS = ("draft", "open", "paid", "uncollectible", "void")
COLLECTION = ("charge_automatically", "send_invoice")
PRODUCT: params.Spec = {"name": STR, "description": STR, "active": BOOL, "metadata": META, **EXPAND}
PHASE: params.Spec = {
    "+items": [{"+price": STR, "quantity": INT}],
    "start_date": STR,
    "end_date": STR,
    "duration": {"+interval": INTERVAL, "interval_count": INT},
    "proration_behavior": PRORATION,
}

# (method, path, accepted parameters (None: a test control, outside Stripe's API), handler)
API: list[tuple[str, str, params.Spec | None, Handler]] = [
    ("POST", r"/v1/customers", {"email": STR, "name": STR, "description": STR, "metadata": META,
                                **EXPAND}, lambda s, p, m: customers.create(s, p)),
    ("GET", r"/v1/customers/([\w-]+)", EXPAND, lambda s, p, m: s.get("customer", m[1])),
    ("POST", r"/v1/products", {"id": STR, "+name": STR, **PRODUCT},
     lambda s, p, m: catalog.create_product(s, p)),
    ("GET", r"/v1/products/([\w-]+)", EXPAND, lambda s, p, m: s.get("product", m[1])),
    ("POST", r"/v1/products/([\w-]+)", PRODUCT,
     lambda s, p, m: catalog.update(s, "product", m[1], p)),
    ("POST", r"/v1/prices", {
        "+currency": STR, "+product": STR, "unit_amount": INT, "unit_amount_decimal": DEC,
        "recurring": {"+interval": INTERVAL, "interval_count": INT,
                      "usage_type": ("licensed", "metered"), "meter": STR},
        "lookup_key": STR, "transfer_lookup_key": BOOL, "nickname": STR, "active": BOOL,
        "metadata": META, **EXPAND,
    }, lambda s, p, m: catalog.create_price(s, p)),
    ("GET", r"/v1/prices", {
        "lookup_keys": [STR], "active": BOOL, "product": STR, "currency": STR,
        "type": ("one_time", "recurring"), "created": RANGE,
        "recurring": {"interval": INTERVAL, "usage_type": ("licensed", "metered"), "meter": STR},
        **LIST,
    }, listed("price", "/v1/prices")),
    ("GET", r"/v1/prices/([\w-]+)", EXPAND, lambda s, p, m: s.get("price", m[1])),
    ("POST", r"/v1/prices/([\w-]+)",
     {"active": BOOL, "nickname": STR, "lookup_key": STR, "transfer_lookup_key": BOOL,
      "metadata": META, **EXPAND},
     lambda s, p, m: catalog.update(s, "price", m[1], p)),
    ("POST", r"/v1/coupons", {
        "id": STR, "name": STR, "percent_off": DEC, "amount_off": INT, "currency": STR,
        "duration": ("forever", "once", "repeating"), "duration_in_months": INT,
        "metadata": META, **EXPAND,
    }, lambda s, p, m: coupons.create_coupon(s, p)),
    ("GET", r"/v1/coupons/([\w-]+)", EXPAND, lambda s, p, m: s.get("coupon", m[1])),
    ("POST", r"/v1/promotion_codes", {
        "+promotion": {"+type": ("coupon",), "+coupon": STR}, "code": STR, "active": BOOL,
        "metadata": META, **EXPAND,
    }, lambda s, p, m: coupons.create_promotion_code(s, p)),
    ("GET", r"/v1/promotion_codes", {
        "code": STR, "active": BOOL, "coupon": STR, "customer": STR, "created": RANGE, **LIST,
    }, listed("promotion_code", "/v1/promotion_codes")),
    ("POST", r"/v1/promotion_codes/([\w-]+)", {"active": BOOL, "metadata": META, **EXPAND},
     lambda s, p, m: coupons.update_promotion_code(s, m[1], p)),
    ("POST", r"/v1/billing/meters", {
        "+display_name": STR, "+event_name": STR, "+default_aggregation": {"+formula": ("sum",)},
        "customer_mapping": {"+event_payload_key": STR, "+type": ("by_id",)},
        "value_settings": {"+event_payload_key": STR}, **EXPAND,
    }, lambda s, p, m: meters.create_meter(s, p)),
    ("GET", r"/v1/billing/meters", {"status": ("active", "inactive"), **LIST},
     listed("billing.meter", "/v1/billing/meters")),
    ("POST", r"/v1/billing/meter_events",
     {"+event_name": STR, "+payload": META, "identifier": STR, "timestamp": INT, **EXPAND},
     lambda s, p, m: meters.create_event(s, p)),
    ("POST", r"/v1/checkout/sessions", {
        "+mode": ("payment", "setup", "subscription"), "customer": STR, "client_reference_id": STR,
        "line_items": [{"price": STR, "quantity": INT}],
        "subscription_data": {"metadata": META, "trial_period_days": INT},
        "+success_url": STR, "cancel_url": STR, "metadata": META,
        "automatic_tax": {"+enabled": BOOL}, "billing_address_collection": ("auto", "required"),
        "allow_promotion_codes": BOOL,
        "payment_intent_data": {"setup_future_usage": ("off_session", "on_session"),
                                "metadata": META, "description": STR},
        "tax_id_collection": {"+enabled": BOOL},
        "customer_update": {"address": ("auto", "never"), "name": ("auto", "never")}, **EXPAND,
    }, lambda s, p, m: checkout.create_session(s, p)),
    ("GET", r"/v1/checkout/sessions/([\w-]+)", EXPAND,
     lambda s, p, m: s.get("checkout.session", m[1])),
    ("POST", r"/v1/billing_portal/sessions",
     {"+customer": STR, "return_url": STR, "configuration": STR, **EXPAND},
     lambda s, p, m: portal.create_session(s, p)),
    ("POST", r"/v1/payment_intents", {
        "+amount": INT, "+currency": STR, "customer": STR, "payment_method": STR,
        "confirm": BOOL, "off_session": BOOL, "setup_future_usage": ("off_session", "on_session"),
        "description": STR, "metadata": META, **EXPAND,
    }, lambda s, p, m: payment_intents.create(s, p)),
    ("GET", r"/v1/payment_intents/([\w-]+)", EXPAND,
     lambda s, p, m: s.get("payment_intent", m[1])),
    ("POST", r"/v1/payment_intents/([\w-]+)/confirm",
     {"payment_method": STR, "off_session": BOOL, **EXPAND},
     lambda s, p, m: payment_intents.confirm(s, m[1], p)),
    ("GET", r"/v1/payment_methods/([\w-]+)", EXPAND,
     lambda s, p, m: s.get("payment_method", m[1])),
    ("GET", r"/v1/subscriptions", {
        "customer": STR, "status": SUB_STATUS, "price": STR, "plan": STR, "created": RANGE,
        "current_period_start": RANGE, "current_period_end": RANGE,
        "automatic_tax": {"+enabled": BOOL}, "collection_method": COLLECTION, **LIST,
    }, listed("subscription", "/v1/subscriptions")),
    ("GET", r"/v1/subscriptions/([\w-]+)", EXPAND, lambda s, p, m: s.get("subscription", m[1])),
    ("POST", r"/v1/subscriptions/([\w-]+)", {
        "items": [{"id": STR, "price": STR, "quantity": INT, "deleted": BOOL}],
        "proration_behavior": PRORATION, "cancel_at_period_end": BOOL, "metadata": META, **EXPAND,
    }, lambda s, p, m: subscriptions.update(s, m[1], _quantity_one(p))),
    ("DELETE", r"/v1/subscriptions/([\w-]+)", {"invoice_now": BOOL, "prorate": BOOL, **EXPAND},
     lambda s, p, m: subscriptions.cancel(s, m[1], p)),
    ("POST", r"/v1/subscription_schedules", {"+from_subscription": STR, "metadata": META, **EXPAND},
     lambda s, p, m: schedules.create(s, p)),
    ("GET", r"/v1/subscription_schedules/([\w-]+)", EXPAND,
     lambda s, p, m: s.get("subscription_schedule", m[1])),
    ("POST", r"/v1/subscription_schedules/([\w-]+)", {
        "phases": [PHASE], "end_behavior": ("release",),
        "proration_behavior": PRORATION, "metadata": META, **EXPAND,
    }, lambda s, p, m: schedules.update(s, m[1], p)),
    ("POST", r"/v1/subscription_schedules/([\w-]+)/release",
     {"preserve_cancel_date": BOOL, **EXPAND}, lambda s, p, m: schedules.release(s, m[1])),
    ("GET", r"/v1/invoices", {
        "customer": STR, "subscription": STR, "status": INVOICE_STATUS, "created": RANGE,
        "collection_method": COLLECTION, "due_date": RANGE, **LIST,
    }, listed("invoice", "/v1/invoices")),
    ("POST", r"/v1/invoices/create_preview", {"customer": STR, "subscription": STR, **EXPAND},
     lambda s, p, m: _preview(s, p)),
    ("GET", r"/v1/invoices/([\w-]+)", EXPAND, lambda s, p, m: s.get("invoice", m[1])),
    ("GET", r"/v1/invoices/([\w-]+)/lines", LIST, lambda s, p, m: paginate(
        invoices.all_lines(s, m[1]), p, f"/v1/invoices/{m[1]}/lines")),
    ("GET", r"/v1/invoiceitems", {
        "customer": STR, "pending": BOOL, "invoice": STR, "created": RANGE, **LIST,
    }, listed("invoiceitem", "/v1/invoiceitems")),
    ("GET", r"/v1/events", {"type": STR, "types": [STR], "created": RANGE, **LIST},
     listed("event", "/v1/events")),
    ("GET", r"/v1/events/([\w-]+)", EXPAND, lambda s, p, m: _event(s, m[1])),
    ("GET", r"/v2/core/events/([\w-]+)", {}, lambda s, p, m: meters.v2_event(s, m[1])),
    # Test controls, outside Stripe's API.
    ("GET", r"/_sim/events", None, lambda s, p, m: list_object(s.events, "/_sim/events")),
    ("GET", r"/_sim/meter_events", None,
     lambda s, p, m: list_object(list(s.meter_events.values()), "/_sim/meter_events")),
    ("POST", r"/_sim/subscriptions/(\w+)/advance", None,
     lambda s, p, m: subscriptions.advance(s, m[1])),
    ("POST", r"/_sim/subscriptions/(\w+)/fail_next_payment", None,
     lambda s, p, m: _fail_next(s, m[1])),
    ("POST", r"/_sim/subscriptions/(\w+)/pay", None,
     lambda s, p, m: subscriptions.pay_open_invoices(s, m[1])),
    ("POST", r"/_sim/subscriptions/(\w+)/backdate", None, lambda s, p, m: _backdate(s, m[1], p)),
    ("POST", r"/_sim/checkout/(\w+)/pay", None,
     lambda s, p, m: checkout.pay(s, m[1], p.get("card", ""), p.get("promotion_code", ""))),
    ("POST", r"/_sim/meter_errors/report", None, lambda s, p, m: meters.report_errors(s)),
]  # fmt: skip


def _quantity_one(p: dict[str, Any]) -> dict[str, Any]:
    """The simulator's subscription items have quantity 1 (it bills every item once)."""
    for index, item in enumerate(p.get("items") or []):
        if item.get("quantity", "1") != "1":
            raise unimplemented(f"items[{index}][quantity]", "A quantity other than 1")
    return p


def _preview(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    """Stripe's rule since 2025-03-31.basil: a preview names what it previews (`subscription`,
    here); a customer alone no longer previews their next invoice across subscriptions."""
    if not p.get("subscription"):
        raise invalid(
            "subscription",
            "You must provide at least one of `subscription`, `subscription_details.items`, "
            "`schedule`, `schedule_details.phases` or `invoice_items` to preview an invoice.",
        )
    if p.get("customer"):
        customer = store.get("customer", p["customer"], "customer")
        sub = store.get("subscription", p["subscription"], "subscription")
        if sub["customer"] != customer["id"]:
            raise invalid(
                "subscription",
                f"The subscription {sub['id']} does not belong to the customer {customer['id']}.",
            )
    return subscriptions.preview_invoice(store, p)


def _event(store: Store, event_id: str) -> dict[str, Any]:
    for event in store.events:
        if event["id"] == event_id:
            return event
    raise missing("event", event_id)


def _backdate(store: Store, sub_id: str, p: dict[str, Any]) -> dict[str, Any]:
    try:
        seconds = int(p.get("seconds", ""))
    except ValueError:
        raise StripeError(400, "seconds must be a whole number", param="seconds") from None
    return subscriptions.backdate(store, sub_id, seconds)


def _fail_next(store: Store, sub_id: str) -> dict[str, Any]:
    sub = store.get("subscription", sub_id)
    store.fail_next_payment.add(sub_id)
    return sub


class SimulatorApp:
    def __init__(
        self, base_url: str, webhook_url: str, webhook_secret: str, state_path: Path | None = None
    ) -> None:
        self.deliverer = Deliverer(webhook_url, webhook_secret)
        self.store = Store(base_url, on_event=self.deliverer.enqueue, state_path=state_path)
        # The last /v1 requests and answers, for the conformance test and for debugging.
        self.exchanges: deque[dict[str, Any]] = deque(maxlen=5000)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "/")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode() if length else ""
        if path.startswith(("/v1/", "/v2/", "/_sim/")):
            try:
                form = parse_form(
                    environ.get("QUERY_STRING", "") if method in ("GET", "DELETE") else body
                )
                status, payload, headers = self.api(method, path, form, environ)
            except StripeError as error:
                status, payload, headers = error.status, error.body, []
            except Exception:  # a bug of the simulator: still an answer in Stripe's shape
                log.exception("simulator error on %s %s", method, path)
                failure = StripeError(500, "An unknown error occurred", kind="api_error")
                status, payload, headers = failure.status, failure.body, []
            return _respond(
                start_response, status, json.dumps(payload), "application/json", headers=headers
            )
        form = parse_form(environ.get("QUERY_STRING", "") if method == "GET" else body)
        from stripe_simulator import pages

        status, content_type, text, location = pages.handle(self, method, path, form)
        return _respond(start_response, status, text, content_type, location)

    def api(
        self, method: str, path: str, form: dict[str, Any], environ: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        if path.startswith(("/v1/", "/v2/")) and not environ.get(
            "HTTP_AUTHORIZATION", ""
        ).startswith("Bearer sk_"):
            return 401, StripeError(401, "Invalid API Key provided").body, []
        if path == "/_sim/reset" and method == "POST":
            with self.store.lock:
                self.store.reset()
                self.exchanges.clear()
            return 200, {"reset": True}, []
        if path == "/_sim/webhooks" and method == "POST":
            self.deliverer.url = form.get("url", "")
            self.deliverer.secret = form.get("secret", self.deliverer.secret)
            return 200, {"url": self.deliverer.url}, []
        if path == "/_sim/requests" and method == "GET":
            return 200, list_object(list(self.exchanges), "/_sim/requests"), []
        with self.store.lock:
            status, body, headers = self._idempotent(method, path, form, environ)
            if method != "GET":
                self.store.save()
        if path.startswith(("/v1/", "/v2/")):
            self.exchanges.append(
                {"method": method, "path": path, "params": form, "status": status, "body": body}
            )
        return status, body, headers

    def _idempotent(
        self, method: str, path: str, form: dict[str, Any], environ: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        """Stripe's idempotency: a key replays its first result for the same request and is
        refused for a different one; a result is kept only once the endpoint started executing
        (a request refused by validation can be corrected and retried under the same key)."""
        key = environ.get("HTTP_IDEMPOTENCY_KEY", "")
        if method != "POST" or not key:
            status, body, _ = self._dispatch(method, path, form)
            return status, body, []
        request = json.dumps([path, form], sort_keys=True)
        saved = self.store.idempotent.get(key)
        if saved is not None:
            first_request, status, body = saved
            if first_request != request:
                error = StripeError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                    "idempotency_error",
                    kind="idempotency_error",
                )
                return error.status, error.body, []
            return status, body, [("Idempotent-Replayed", "true")]
        status, body, executed = self._dispatch(method, path, form)
        if executed:
            self.store.idempotent[key] = (request, status, body)
        return status, body, [("Idempotency-Key", key)]

    def _dispatch(self, method: str, path: str, params_: dict[str, Any]) -> tuple[int, Any, bool]:
        """(status, body, whether the endpoint started executing)."""
        for verb, pattern, spec, handler in API:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                try:
                    if spec is not None:
                        # Stripe's rules first (what Stripe itself refuses), then what the
                        # simulator implements of what Stripe accepts.
                        stripe_params.check(stripe_params.endpoint(verb, pattern), params_)
                        params.check(spec, params_)
                        for index, path_ in enumerate(params_.get("expand") or []):
                            if path_.count(".") >= 4:
                                raise invalid(
                                    f"expand[{index}]",
                                    "You cannot expand more than 4 levels of a property.",
                                )
                    result = copy.deepcopy(handler(self.store, params_, match))
                    for path_ in params_.get("expand") or []:
                        result = expansion.expand(self.store, result, path_)
                except StripeError as error:
                    return error.status, error.body, error.executed
                return 200, result, True
        unknown = StripeError(404, f"Unrecognized request URL ({method}: {path})")
        return unknown.status, unknown.body, False


def _respond(
    start_response: StartResponse,
    status: int,
    text: str | bytes,
    content_type: str,
    location: str = "",
    headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    reasons = {
        200: "OK",
        303: "See Other",
        400: "Bad Request",
        401: "Unauthorized",
        402: "Payment Required",
        409: "Conflict",
        500: "Internal Server Error",
        404: "Not Found",
    }
    headers = [
        (
            "Content-Type",
            content_type if isinstance(text, bytes) else f"{content_type}; charset=utf-8",
        ),
        ("Stripe-Simulator", "tollgate"),
        *(headers or []),
    ]
    if location:
        headers.append(("Location", location))
    start_response(f"{status} {reasons.get(status, 'Status')}", headers)
    return [text if isinstance(text, bytes) else text.encode()]


def escape(value: object) -> str:
    return html.escape(str(value))
