"""The simulator's in-memory Stripe: objects, their life cycles and the events they emit.

One lock guards everything: the simulator serves a developer's clicks and a test's requests,
not traffic, so simple and correct beats concurrent.
"""

from __future__ import annotations

import calendar
import copy
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from billing.simulator.shapes import list_object, new_id, shape

SUCCESS_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
LIVE_STATUSES = ("trialing", "active", "past_due", "unpaid")


class StripeError(Exception):
    """An error in Stripe's shape: {"error": {"type", "code", "message", "param"}}."""

    def __init__(
        self, status: int, message: str, code: str = "", param: str = "", kind: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {
                "type": kind or "invalid_request_error",
                "code": code or None,
                "message": message,
                "param": param or None,
            }
        }


def missing(kind: str, object_id: str) -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", "resource_missing", "id")


def add_month(ts: int) -> int:
    day = datetime.fromtimestamp(ts, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    last = calendar.monthrange(year, month)[1]
    return int(day.replace(year=year, month=month, day=min(day.day, last)).timestamp())


class Store:
    objects: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]
    meter_events: dict[str, dict[str, Any]]
    idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]]
    fail_next_payment: set[str]
    invoice_sequence: int

    def __init__(
        self,
        base_url: str,
        on_event: Callable[[dict[str, Any]], None],
        state_path: Path | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.on_event = on_event
        self.lock = threading.RLock()
        self.state_path = state_path
        self.reset()
        if state_path is not None and state_path.exists():
            self.load(state_path)

    # What survives a restart of `make run`, so customers and prices the portal stored stay valid.
    PERSISTED = ("objects", "events", "meter_events", "fail_next_payment", "invoice_sequence")

    def load(self, path: Path) -> None:
        state = json.loads(path.read_text())
        self.objects = state["objects"]
        self.events = state["events"]
        self.meter_events = state["meter_events"]
        self.fail_next_payment = set(state["fail_next_payment"])
        self.invoice_sequence = state["invoice_sequence"]

    def save(self) -> None:
        if self.state_path is None:
            return
        state = {name: getattr(self, name) for name in self.PERSISTED}
        state["fail_next_payment"] = sorted(self.fail_next_payment)
        temporary = self.state_path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        temporary.replace(self.state_path)

    def reset(self) -> None:
        self.objects = {}
        self.events = []
        self.meter_events = {}
        self.idempotent = {}
        self.fail_next_payment = set()
        self.invoice_sequence = 0

    # --- storage ----------------------------------------------------------------------------
    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise missing(kind, object_id)
        return obj

    def all(self, kind: str) -> list[dict[str, Any]]:
        found = [o for o in self.objects.values() if o["object"] == kind]
        return sorted(found, key=lambda o: o.get("created") or 0, reverse=True)

    def emit(self, event_type: str, obj: dict[str, Any]) -> None:
        event = shape(
            "event",
            id=new_id("evt"),
            type=event_type,
            created=int(time.time()),
            api_version=None,
            data={"object": copy.deepcopy(obj)},
            request={"id": None, "idempotency_key": None},
            livemode=False,
            pending_webhooks=1,
        )
        self.events.append(event)
        self.on_event(event)

    # --- customers, products, prices, meters --------------------------------------------
    def create_customer(self, p: dict[str, Any]) -> dict[str, Any]:
        return self.put(
            shape(
                "customer",
                id=new_id("cus"),
                created=int(time.time()),
                email=p.get("email"),
                name=p.get("name"),
                metadata=p.get("metadata", {}),
                discount=None,
                address=None,
                shipping=None,
                invoice_prefix=new_id("x")[2:10].upper(),
            )
        )

    def create_product(self, p: dict[str, Any]) -> dict[str, Any]:
        product_id = p.get("id") or new_id("prod")
        if product_id in self.objects:
            raise StripeError(
                400, f"Product already exists with ID {product_id}", "resource_already_exists"
            )
        now = int(time.time())
        return self.put(
            shape(
                "product",
                id=product_id,
                name=p.get("name", ""),
                description=p.get("description") or None,
                metadata=p.get("metadata", {}),
                created=now,
                updated=now,
                default_price=None,
                images=[],
                marketing_features=[],
                package_dimensions=None,
                type="service",
                active=p.get("active", "true") != "false",
            )
        )

    def update(self, kind: str, object_id: str, p: dict[str, Any]) -> dict[str, Any]:
        obj = self.get(kind, object_id)
        for field in ("name", "description", "active", "nickname"):
            if field in p and field in obj:
                obj[field] = (p[field] != "false") if field == "active" else p[field]
        obj.setdefault("metadata", {}).update(p.get("metadata", {}))
        if "updated" in obj:
            obj["updated"] = int(time.time())
        return obj

    def create_price(self, p: dict[str, Any]) -> dict[str, Any]:
        self.get("product", p.get("product", ""))
        lookup_key = p.get("lookup_key")
        if lookup_key:
            for other in self.all("price"):
                if other["lookup_key"] == lookup_key:
                    if p.get("transfer_lookup_key") != "true":
                        raise StripeError(
                            400, "A price with this lookup_key exists", "lookup_key_exists"
                        )
                    other["lookup_key"] = None
        recurring = p.get("recurring") or {}
        decimal = p.get("unit_amount_decimal") or p.get("unit_amount") or "0"
        return self.put(
            shape(
                "price",
                id=new_id("price"),
                created=int(time.time()),
                product=p["product"],
                currency=p.get("currency", "usd"),
                unit_amount=int(float(decimal)) if float(decimal).is_integer() else None,
                unit_amount_decimal=str(decimal),
                lookup_key=lookup_key,
                nickname=p.get("nickname"),
                metadata=p.get("metadata", {}),
                custom_unit_amount=None,
                transform_quantity=None,
                recurring={
                    "interval": recurring.get("interval", "month"),
                    "interval_count": 1,
                    "meter": recurring.get("meter"),
                    "usage_type": recurring.get("usage_type", "licensed"),
                    "trial_period_days": None,
                },
            )
        )

    def list_prices(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        keys = p.get("lookup_keys")
        prices = self.all("price")
        if keys:
            prices = [x for x in prices if x["lookup_key"] in keys]
        if "active" in p:
            prices = [x for x in prices if x["active"] == (p["active"] == "true")]
        return prices

    def create_meter(self, p: dict[str, Any]) -> dict[str, Any]:
        if any(m["event_name"] == p.get("event_name") for m in self.all("billing.meter")):
            raise StripeError(400, "A meter with this event_name exists", "meter_exists")
        now = int(time.time())
        return self.put(
            shape(
                "billing.meter",
                id=new_id("mtr"),
                created=now,
                updated=now,
                livemode=False,
                display_name=p.get("display_name", ""),
                event_name=p.get("event_name", ""),
                default_aggregation={
                    "formula": (p.get("default_aggregation") or {}).get("formula", "sum")
                },
                customer_mapping={"event_payload_key": "stripe_customer_id", "type": "by_id"},
                value_settings={"event_payload_key": "value"},
                status_transitions={"deactivated_at": None},
            )
        )

    def create_meter_event(self, p: dict[str, Any]) -> dict[str, Any]:
        identifier = p.get("identifier") or new_id("mev")
        if identifier in self.meter_events:
            # Stripe enforces identifier uniqueness for at least 24 hours: a resend is a no-op.
            return self.meter_events[identifier]
        payload = p.get("payload") or {}
        self.get("customer", payload.get("stripe_customer_id", ""))
        event = shape(
            "billing.meter_event",
            created=int(time.time()),
            event_name=p.get("event_name", ""),
            identifier=identifier,
            payload=payload,
            timestamp=int(p.get("timestamp") or time.time()),
        )
        self.meter_events[identifier] = event
        return event

    def metered_usage(self, customer: str, start: int, end: int) -> int:
        return sum(
            int(float(e["payload"].get("value", 0)))
            for e in self.meter_events.values()
            if e["payload"].get("stripe_customer_id") == customer and start <= e["timestamp"] < end
        )

    # --- checkout and subscriptions -----------------------------------------------------
    def create_checkout_session(self, p: dict[str, Any]) -> dict[str, Any]:
        if p.get("mode") != "subscription":
            raise StripeError(400, "The simulator supports mode=subscription only", param="mode")
        customer = self.get("customer", p.get("customer", ""))
        items = p.get("line_items") or []
        for item in items:
            self.get("price", item.get("price", ""))
        session_id = new_id("cs_test")
        now = int(time.time())
        session = shape(
            "checkout.session",
            id=session_id,
            created=now,
            expires_at=now + 86400,
            mode="subscription",
            customer=customer["id"],
            client_reference_id=p.get("client_reference_id"),
            success_url=p.get("success_url", "").replace("{CHECKOUT_SESSION_ID}", session_id),
            cancel_url=p.get("cancel_url"),
            metadata=p.get("metadata", {}),
            payment_intent=None,
            payment_status="unpaid",
            status="open",
            subscription=None,
            currency="usd",
            url=f"{self.base_url}/checkout/{session_id}",
        )
        # Kept beside the shaped object: what Checkout will subscribe the customer to.
        self.objects[f"{session_id}:request"] = {
            "object": "_request",
            "line_items": items,
            "subscription_data": p.get("subscription_data") or {},
        }
        return self.put(session)

    def pay_checkout(self, session_id: str, card: str) -> dict[str, Any]:
        session = self.get("checkout.session", session_id)
        if session["status"] != "open":
            return session
        card = "".join(card.split())
        if card != SUCCESS_CARD:
            message = (
                "Your card was declined." if card == DECLINED_CARD else "Use 4242 4242 4242 4242."
            )
            raise StripeError(402, message, "card_declined", kind="card_error")
        request = self.objects[f"{session_id}:request"]
        data = request["subscription_data"]
        trial_days = int(data.get("trial_period_days") or 0)
        sub = self.create_subscription(
            session["customer"], request["line_items"], data.get("metadata", {}), trial_days
        )
        session.update(status="complete", payment_status="paid", subscription=sub["id"])
        self.emit("checkout.session.completed", session)
        return session

    def create_subscription(
        self,
        customer: str,
        line_items: list[dict[str, Any]],
        metadata: dict[str, Any],
        trial_days: int,
    ) -> dict[str, Any]:
        now = int(time.time())
        sub_id = new_id("sub")
        end = now + trial_days * 86400 if trial_days else add_month(now)
        items = [self._item(sub_id, item["price"], now, end) for item in line_items]
        sub = shape(
            "subscription",
            id=sub_id,
            customer=customer,
            created=now,
            start_date=now,
            billing_cycle_anchor=now,
            billing_cycle_anchor_config=None,
            cancel_at=None,
            cancel_at_period_end=False,
            canceled_at=None,
            ended_at=None,
            next_pending_invoice_item_invoice=None,
            pause_collection=None,
            items=list_object(items, f"/v1/subscription_items?subscription={sub_id}"),
            metadata=metadata,
            status="trialing" if trial_days else "active",
            trial_start=now if trial_days else None,
            trial_end=end if trial_days else None,
            latest_invoice=None,
        )
        self.put(sub)
        self.emit("customer.subscription.created", sub)
        invoice = self._invoice(sub, "subscription_create", now, end, paid=True, usage_from=None)
        sub["latest_invoice"] = invoice["id"]
        return sub

    def _item(self, sub_id: str, price_id: str, start: int, end: int) -> dict[str, Any]:
        price = self.get("price", price_id)
        item = shape(
            "subscription_item",
            id=new_id("si"),
            created=start,
            subscription=sub_id,
            price=copy.deepcopy(price),
            quantity=1 if price["recurring"]["usage_type"] == "licensed" else None,
            current_period_start=start,
            current_period_end=end,
            billing_thresholds=None,
            discounts=[],
            tax_rates=[],
        )
        item["plan"] = None  # the legacy Plan object: prices replace it
        return item

    def period(self, sub: dict[str, Any]) -> tuple[int, int]:
        first = sub["items"]["data"][0]
        return first["current_period_start"], first["current_period_end"]

    def update_subscription(self, sub_id: str, p: dict[str, Any]) -> dict[str, Any]:
        sub = self.get("subscription", sub_id)
        if sub["status"] == "canceled":
            raise StripeError(
                400, "A canceled subscription can't be updated", "subscription_canceled"
            )
        if "cancel_at_period_end" in p:
            sub["cancel_at_period_end"] = p["cancel_at_period_end"] == "true"
            sub["cancel_at"] = self.period(sub)[1] if sub["cancel_at_period_end"] else None
        start, end = self.period(sub)
        proration = p.get("proration_behavior", "create_prorations")
        if proration not in ("create_prorations", "none"):
            raise StripeError(
                400,
                "The simulator prorates with create_prorations or none",
                param="proration_behavior",
            )
        for change in p.get("items") or []:
            self._change_item(sub, change, start, end, prorate=proration == "create_prorations")
        sub["metadata"].update(p.get("metadata", {}))
        self.emit("customer.subscription.updated", sub)
        return sub

    def _change_item(
        self, sub: dict[str, Any], change: dict[str, Any], start: int, end: int, *, prorate: bool
    ) -> None:
        items = sub["items"]["data"]
        if change.get("id"):
            item = next((i for i in items if i["id"] == change["id"]), None)
            if item is None:
                raise missing("subscription_item", change["id"])
            if change.get("deleted") == "true":
                items.remove(item)
            elif change.get("price"):
                price = self.get("price", change["price"])
                if prorate and price["id"] != item["price"]["id"]:
                    self._prorate(sub, item, price)
                # A plan change keeps the billing period: the quota is not reset.
                item["price"] = copy.deepcopy(price)
        elif change.get("price"):
            items.append(self._item(sub["id"], change["price"], start, end))

    def _prorate(self, sub: dict[str, Any], item: dict[str, Any], new: dict[str, Any]) -> None:
        """Stripe's create_prorations: a credit for the old price's unused time and a charge for
        the new price's remaining time, as pending invoice items for the next invoice."""
        now = int(time.time())
        start, end = item["current_period_start"], item["current_period_end"]
        licensed = item["price"]["recurring"]["usage_type"] == "licensed"
        if sub["status"] == "trialing" or not licensed or not start <= now < end:
            return
        left = (end - now) / (end - start)
        today = datetime.fromtimestamp(now, UTC)
        day = f"{today.day} {today:%b %Y}"
        for price, sign, words in ((item["price"], -1, "Unused"), (new, 1, "Remaining")):
            amount = sign * round(float(price["unit_amount_decimal"]) * left)
            product = self.objects.get(price["product"], {}).get("name", "item")
            self.put(
                shape(
                    "invoiceitem",
                    id=new_id("ii"),
                    amount=amount,
                    net_amount=amount,
                    currency=price["currency"],
                    customer=sub["customer"],
                    date=now,
                    description=f"{words} time on {product} after {day}",
                    discountable=False,  # Stripe never discounts prorations
                    invoice=None,
                    metadata={},
                    period={"start": now, "end": end},
                    proration=True,
                    quantity=1,
                    quantity_decimal="1",
                    test_clock=None,
                    customer_account=None,
                    parent={
                        "type": "subscription_details",
                        "subscription_details": {
                            "subscription": sub["id"],
                            "subscription_item": item["id"],
                        },
                    },
                    pricing={
                        "type": "price_details",
                        "unit_amount_decimal": price["unit_amount_decimal"],
                        "price_details": {"price": price["id"], "product": price["product"]},
                    },
                )
            )

    def pending_items(self, sub_id: str) -> list[dict[str, Any]]:
        """Invoice items waiting for the subscription's next invoice, oldest first."""
        found = [
            ii
            for ii in self.objects.values()
            if ii["object"] == "invoiceitem"
            and ii["invoice"] is None
            and ii["parent"]["subscription_details"]["subscription"] == sub_id
        ]
        return sorted(found, key=lambda ii: ii["date"])

    def cancel_subscription(self, sub_id: str) -> dict[str, Any]:
        sub = self.get("subscription", sub_id)
        if sub["status"] != "canceled":
            now = int(time.time())
            sub.update(status="canceled", canceled_at=now, ended_at=now)
            self.emit("customer.subscription.deleted", sub)
        return sub

    def advance(self, sub_id: str) -> dict[str, Any]:
        """Move a subscription to its next period, invoicing (and charging) for it."""
        sub = self.get("subscription", sub_id)
        if sub["status"] == "canceled":
            return sub
        start, end = self.period(sub)
        if sub["cancel_at_period_end"]:
            sub.update(status="canceled", canceled_at=end, ended_at=end)
            self.emit("customer.subscription.deleted", sub)
            return sub
        new_end = add_month(end)
        for item in sub["items"]["data"]:
            item.update(current_period_start=end, current_period_end=new_end)
        failed = sub_id in self.fail_next_payment
        self.fail_next_payment.discard(sub_id)
        sub.update(status="past_due" if failed else "active", trial_end=sub["trial_end"])
        invoice = self._invoice(
            sub, "subscription_cycle", end, new_end, paid=not failed, usage_from=(start, end)
        )
        sub["latest_invoice"] = invoice["id"]
        self.emit("customer.subscription.updated", sub)
        return sub

    def backdate(self, sub_id: str, seconds: int) -> dict[str, Any]:
        """Move a subscription's dates `seconds` into the past, as if it had begun that earlier.

        What a Stripe test clock started in the past would give: the portal and the gateway
        run on the real clock, so an end-to-end test reaches past a renewal date or a grace
        period by moving Stripe's dates. The update event lets the portal's copy follow.
        """
        sub = self.get("subscription", sub_id)
        if seconds < 0:
            raise StripeError(400, "seconds must not be negative", param="seconds")
        dated = ("created", "start_date", "billing_cycle_anchor", "trial_start", "trial_end",
                 "cancel_at", "canceled_at", "ended_at")  # fmt: skip
        for field in dated:
            if sub.get(field):
                sub[field] -= seconds
        for item in sub["items"]["data"]:
            for field in ("created", "current_period_start", "current_period_end"):
                item[field] -= seconds
        self.emit("customer.subscription.updated", sub)
        return sub

    def pay_open_invoices(self, sub_id: str) -> dict[str, Any]:
        sub = self.get("subscription", sub_id)
        for invoice in self.all("invoice"):
            if (
                invoice["parent"]["subscription_details"]["subscription"] == sub_id
                and invoice["status"] == "open"
            ):
                invoice.update(
                    status="paid",
                    amount_paid=invoice["amount_due"],
                    amount_remaining=0,
                    attempt_count=invoice["attempt_count"] + 1,
                )
                invoice["status_transitions"]["paid_at"] = int(time.time())
                self.emit("invoice.paid", invoice)
        if sub["status"] in ("past_due", "unpaid"):
            sub["status"] = "active"
            self.emit("customer.subscription.updated", sub)
        return sub

    # --- invoices ----------------------------------------------------------------------
    def _lines(
        self, sub: dict[str, Any], start: int, end: int, usage_from: tuple[int, int] | None
    ) -> list[dict[str, Any]]:
        lines = []
        for item in sub["items"]["data"]:
            price = item["price"]
            metered = price["recurring"]["usage_type"] == "metered"
            if metered and usage_from is None:
                continue
            quantity = (
                self.metered_usage(sub["customer"], *usage_from) if metered and usage_from else 1
            )
            amount = round(float(price["unit_amount_decimal"]) * quantity)
            period = (
                {"start": usage_from[0], "end": usage_from[1]}
                if metered and usage_from
                else {"start": start, "end": end}
            )
            lines.append(self._line(price, quantity, amount, period, sub["id"], item["id"]))
        for ii in self.pending_items(sub["id"]):
            price = self.get("price", ii["pricing"]["price_details"]["price"])
            item_id = ii["parent"]["subscription_details"]["subscription_item"]
            line = self._line(price, 1, ii["amount"], ii["period"], sub["id"], item_id)
            details = line["parent"]["subscription_item_details"]
            details.update(invoice_item=ii["id"], proration=True)
            line.update(description=ii["description"], discountable=False)
            lines.append(line)
        return lines

    def _line(
        self,
        price: dict[str, Any],
        quantity: int,
        amount: int,
        period: dict[str, int],
        sub_id: str,
        item_id: str,
    ) -> dict[str, Any]:
        product = self.objects.get(price["product"], {})
        return {
            "id": new_id("il"),
            "object": "line_item",
            "amount": amount,
            "currency": price["currency"],
            "description": f"{quantity} x {product.get('name', 'item')}",
            "discount_amounts": [],
            "discountable": True,
            "discounts": [],
            "invoice": None,
            "livemode": False,
            "metadata": {},
            "period": period,
            "quantity": quantity,
            "subscription": sub_id,
            "pretax_credit_amounts": [],
            "taxes": [],
            "parent": {
                "type": "subscription_item_details",
                "invoice_item_details": None,
                "subscription_item_details": {
                    "invoice_item": None,
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": sub_id,
                    "subscription_item": item_id,
                },
            },
            "pricing": {
                "type": "price_details",
                "unit_amount_decimal": price["unit_amount_decimal"],
                "price_details": {"price": price["id"], "product": price["product"]},
            },
            "subtotal": amount,
            "quantity_decimal": str(quantity),
        }

    def _invoice_object(
        self,
        sub: dict[str, Any],
        reason: str,
        start: int,
        end: int,
        usage_from: tuple[int, int] | None,
        invoice_id: str,
    ) -> dict[str, Any]:
        lines = self._lines(sub, start, end, usage_from)
        total = sum(line["amount"] for line in lines)
        now = int(time.time())
        for line in lines:
            line["invoice"] = invoice_id
        return shape(
            "invoice",
            id=invoice_id,
            created=now,
            customer=sub["customer"],
            billing_reason=reason,
            amount_due=total,
            amount_paid=0,
            amount_remaining=total,
            subtotal=total,
            total=total,
            total_excluding_tax=total,
            period_start=start,
            period_end=end,
            status="draft",
            lines=list_object(lines, f"/v1/invoices/{invoice_id}/lines"),
            attempt_count=0,
            attempted=False,
            hosted_invoice_url=None,
            invoice_pdf=None,
            number=None,
            due_date=None,
            effective_at=None,
            next_payment_attempt=None,
            from_invoice=None,
            last_finalization_error=None,
            latest_revision=None,
            customer_address=None,
            customer_shipping=None,
            shipping_cost=None,
            shipping_details=None,
            metadata={},
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": sub["metadata"], "subscription": sub["id"]},
            },
        )

    def _invoice(
        self,
        sub: dict[str, Any],
        reason: str,
        start: int,
        end: int,
        *,
        paid: bool,
        usage_from: tuple[int, int] | None,
    ) -> dict[str, Any]:
        invoice_id = new_id("in")
        invoice = self._invoice_object(sub, reason, start, end, usage_from, invoice_id)
        for ii in self.pending_items(sub["id"]):
            ii["invoice"] = invoice_id
        self.put(invoice)
        self.emit("invoice.created", invoice)
        self.invoice_sequence += 1
        now = int(time.time())
        invoice.update(
            status="open",
            number=f"TG-{self.invoice_sequence:05d}",
            effective_at=now,
            hosted_invoice_url=f"{self.base_url}/invoices/{invoice_id}",
            invoice_pdf=f"{self.base_url}/invoices/{invoice_id}/pdf",
            attempted=True,
            attempt_count=1,
        )
        invoice["status_transitions"]["finalized_at"] = now
        self.emit("invoice.finalized", invoice)
        if paid:
            invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
            invoice["status_transitions"]["paid_at"] = now
            self.emit("invoice.paid", invoice)
        else:
            invoice["next_payment_attempt"] = now + 3 * 86400
            self.emit("invoice.payment_failed", invoice)
        return invoice

    def preview_invoice(self, p: dict[str, Any]) -> dict[str, Any]:
        sub = self.get("subscription", p.get("subscription", ""))
        start, end = self.period(sub)
        usage = self._invoice_object(sub, "upcoming", end, add_month(end), (start, end), "upcoming")
        usage["id"] = None
        return usage

    def list_for(self, kind: str, p: dict[str, Any]) -> list[dict[str, Any]]:
        found = self.all(kind)
        if p.get("customer"):
            found = [o for o in found if o.get("customer") == p["customer"]]
        if kind == "subscription" and p.get("status", "all") != "all":
            found = [o for o in found if o["status"] == p["status"]]
        elif kind == "subscription" and "status" not in p:
            found = [o for o in found if o["status"] != "canceled"]
        if kind == "invoice" and p.get("subscription"):
            found = [
                o
                for o in found
                if o["parent"]["subscription_details"]["subscription"] == p["subscription"]
            ]
        return found

    def create_portal_session(self, p: dict[str, Any]) -> dict[str, Any]:
        customer = self.get("customer", p.get("customer", ""))
        session_id = new_id("bps")
        return self.put(
            shape(
                "billing_portal.session",
                id=session_id,
                created=int(time.time()),
                customer=customer["id"],
                livemode=False,
                return_url=p.get("return_url"),
                url=f"{self.base_url}/portal/{session_id}",
                configuration=None,
                flow=None,
            )
        )

    def portal_prices(self) -> list[dict[str, Any]]:
        """Prices a customer may switch to in the portal: active, licensed, with a lookup key."""
        return [
            p
            for p in self.all("price")
            if p["active"] and p["lookup_key"] and p["recurring"]["usage_type"] == "licensed"
        ]
