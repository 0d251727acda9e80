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
import re
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from stripe_simulator import catalog, checkout, customers, meters, portal, subscriptions
from stripe_simulator.errors import StripeError, missing
from stripe_simulator.shapes import list_object
from stripe_simulator.store import Store
from stripe_simulator.webhooks import Deliverer

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


def expand(store: Store, obj: Any, path: list[str]) -> Any:
    if not path or obj is None:
        return obj
    if isinstance(obj, list):
        return [expand(store, item, path) for item in obj]
    head, rest = path[0], path[1:]
    value = obj.get(head)
    if isinstance(value, str) and store.find(value) is not None:
        value = copy.deepcopy(store.find(value))
    obj[head] = expand(store, value, rest)
    return obj


def paginate(found: list[dict[str, Any]], p: dict[str, Any], url: str) -> dict[str, Any]:
    limit = int(p.get("limit") or 10)
    if p.get("starting_after"):
        ids = [o["id"] for o in found]
        if p["starting_after"] in ids:
            found = found[ids.index(p["starting_after"]) + 1 :]
    return list_object(found[:limit], url, has_more=len(found) > limit)


API: list[tuple[str, str, Handler]] = [
    ("POST", r"/v1/customers", lambda s, p, m: customers.create(s, p)),
    ("GET", r"/v1/customers/(\w+)", lambda s, p, m: s.get("customer", m[1])),
    ("POST", r"/v1/products", lambda s, p, m: catalog.create_product(s, p)),
    ("GET", r"/v1/products/([\w-]+)", lambda s, p, m: s.get("product", m[1])),
    ("POST", r"/v1/products/([\w-]+)", lambda s, p, m: catalog.update(s, "product", m[1], p)),
    ("POST", r"/v1/prices", lambda s, p, m: catalog.create_price(s, p)),
    ("GET", r"/v1/prices", lambda s, p, m: paginate(catalog.list_prices(s, p), p, "/v1/prices")),
    ("GET", r"/v1/prices/(\w+)", lambda s, p, m: s.get("price", m[1])),
    ("POST", r"/v1/prices/(\w+)", lambda s, p, m: catalog.update(s, "price", m[1], p)),
    ("POST", r"/v1/billing/meters", lambda s, p, m: meters.create_meter(s, p)),
    (
        "GET",
        r"/v1/billing/meters",
        lambda s, p, m: paginate(s.all("billing.meter"), p, "/v1/billing/meters"),
    ),
    ("POST", r"/v1/billing/meter_events", lambda s, p, m: meters.create_event(s, p)),
    ("POST", r"/v1/checkout/sessions", lambda s, p, m: checkout.create_session(s, p)),
    ("GET", r"/v1/checkout/sessions/(\w+)", lambda s, p, m: s.get("checkout.session", m[1])),
    ("POST", r"/v1/billing_portal/sessions", lambda s, p, m: portal.create_session(s, p)),
    (
        "GET",
        r"/v1/subscriptions",
        lambda s, p, m: paginate(s.list_for("subscription", p), p, "/v1/subscriptions"),
    ),
    ("GET", r"/v1/subscriptions/(\w+)", lambda s, p, m: s.get("subscription", m[1])),
    ("POST", r"/v1/subscriptions/(\w+)", lambda s, p, m: subscriptions.update(s, m[1], p)),
    ("DELETE", r"/v1/subscriptions/(\w+)", lambda s, p, m: subscriptions.cancel(s, m[1])),
    ("GET", r"/v1/invoices", lambda s, p, m: paginate(s.list_for("invoice", p), p, "/v1/invoices")),
    ("POST", r"/v1/invoices/create_preview", lambda s, p, m: subscriptions.preview_invoice(s, p)),
    ("GET", r"/v1/invoices/(\w+)", lambda s, p, m: s.get("invoice", m[1])),
    (
        "GET",
        r"/v1/invoiceitems",
        lambda s, p, m: paginate(s.list_for("invoiceitem", p), p, "/v1/invoiceitems"),
    ),
    ("GET", r"/v1/events", lambda s, p, m: paginate(list(reversed(s.events)), p, "/v1/events")),
    ("GET", r"/v1/events/(\w+)", lambda s, p, m: _event(s, m[1])),
    # Test controls, outside Stripe's API.
    ("GET", r"/_sim/events", lambda s, p, m: list_object(s.events, "/_sim/events")),
    ("POST", r"/_sim/subscriptions/(\w+)/advance", lambda s, p, m: subscriptions.advance(s, m[1])),
    ("POST", r"/_sim/subscriptions/(\w+)/fail_next_payment", lambda s, p, m: _fail_next(s, m[1])),
    (
        "POST",
        r"/_sim/subscriptions/(\w+)/pay",
        lambda s, p, m: subscriptions.pay_open_invoices(s, m[1]),
    ),
    ("POST", r"/_sim/subscriptions/(\w+)/backdate", lambda s, p, m: _backdate(s, m[1], p)),
    ("POST", r"/_sim/checkout/(\w+)/pay", lambda s, p, m: checkout.pay(s, m[1], p.get("card", ""))),
]


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
        params = parse_form(
            environ.get("QUERY_STRING", "") if method in ("GET", "DELETE") else body
        )
        if path.startswith(("/v1/", "/_sim/")):
            status, payload, headers = self.api(method, path, params, environ)
            return _respond(
                start_response, status, json.dumps(payload), "application/json", headers=headers
            )
        from stripe_simulator import pages

        status, content_type, text, location = pages.handle(self, method, path, params)
        return _respond(start_response, status, text, content_type, location)

    def api(
        self, method: str, path: str, params: dict[str, Any], environ: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        if path.startswith("/v1/") and not environ.get("HTTP_AUTHORIZATION", "").startswith(
            "Bearer sk_"
        ):
            return 401, StripeError(401, "Invalid API Key provided").body, []
        if path == "/_sim/reset" and method == "POST":
            with self.store.lock:
                self.store.reset()
                self.exchanges.clear()
            return 200, {"reset": True}, []
        if path == "/_sim/webhooks" and method == "POST":
            self.deliverer.url = params.get("url", "")
            self.deliverer.secret = params.get("secret", self.deliverer.secret)
            return 200, {"url": self.deliverer.url}, []
        if path == "/_sim/requests" and method == "GET":
            return 200, list_object(list(self.exchanges), "/_sim/requests"), []
        with self.store.lock:
            status, body, headers = self._idempotent(method, path, params, environ)
            if method != "GET":
                self.store.save()
        if path.startswith("/v1/"):
            self.exchanges.append(
                {"method": method, "path": path, "params": params, "status": status, "body": body}
            )
        return status, body, headers

    def _idempotent(
        self, method: str, path: str, params: dict[str, Any], environ: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        """Stripe's idempotency: a key replays its first result for the same request and is
        refused for a different one; a result is kept only once the endpoint started executing
        (a request refused by validation can be corrected and retried under the same key)."""
        key = environ.get("HTTP_IDEMPOTENCY_KEY", "")
        if method != "POST" or not key:
            status, body, _ = self._dispatch(method, path, params)
            return status, body, []
        request = json.dumps([path, params], sort_keys=True)
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
        status, body, executed = self._dispatch(method, path, params)
        if executed:
            self.store.idempotent[key] = (request, status, body)
        return status, body, [("Idempotency-Key", key)]

    def _dispatch(self, method: str, path: str, params: dict[str, Any]) -> tuple[int, Any, bool]:
        """(status, body, whether the endpoint started executing)."""
        for verb, pattern, handler in API:
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                try:
                    result = copy.deepcopy(handler(self.store, params, match))
                    for path_ in params.get("expand") or []:
                        result = expand(self.store, result, path_.split("."))
                except StripeError as error:
                    return error.status, error.body, error.executed
                return 200, result, True
        unknown = StripeError(404, f"Unrecognized request URL ({method}: {path})")
        return unknown.status, unknown.body, False


def _respond(
    start_response: StartResponse,
    status: int,
    text: str,
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
        404: "Not Found",
    }
    headers = [
        ("Content-Type", f"{content_type}; charset=utf-8"),
        ("Stripe-Simulator", "tollgate"),
        *(headers or []),
    ]
    if location:
        headers.append(("Location", location))
    start_response(f"{status} {reasons.get(status, 'Status')}", headers)
    return [text.encode()]


def escape(value: object) -> str:
    return html.escape(str(value))
