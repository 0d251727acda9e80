"""Billing meters and meter events."""

from __future__ import annotations

from typing import Any

from stripe_simulator.errors import StripeError
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, now


def create_meter(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    if any(m["event_name"] == p.get("event_name") for m in store.all("billing.meter")):
        raise StripeError(400, "A meter with this event_name exists", "meter_exists")
    created = now()
    return store.put(
        shape(
            "billing.meter",
            id=new_id("mtr"),
            created=created,
            updated=created,
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


def create_event(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    identifier = p.get("identifier") or new_id("mev")
    if identifier in store.meter_events:
        # Stripe enforces identifier uniqueness for at least 24 hours: a resend is a no-op.
        return store.meter_events[identifier]
    payload = p.get("payload") or {}
    store.get("customer", payload.get("stripe_customer_id", ""))
    event = shape(
        "billing.meter_event",
        created=now(),
        event_name=p.get("event_name", ""),
        identifier=identifier,
        payload=payload,
        timestamp=int(p.get("timestamp") or now()),
    )
    store.meter_events[identifier] = event
    return event


def usage(store: Store, customer: str, start: int, end: int) -> int:
    return sum(
        int(float(e["payload"].get("value", 0)))
        for e in store.meter_events.values()
        if e["payload"].get("stripe_customer_id") == customer and start <= e["timestamp"] < end
    )
