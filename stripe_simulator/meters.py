"""Billing meters and meter events.

Stripe accepts a meter event at once and checks it later ("Stripe processes meter events
asynchronously"): an event it cannot bill (no meter for its name, a value that is not a whole
number, a customer it does not know) is left out of the usage and reported, in a batch,
by a `v1.billing.meter.error_report_triggered` event (a v2 event: the webhook carries a thin
notification, the portal fetches the whole event from /v2/core/events/{id}).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from stripe_simulator.errors import StripeError, invalid, missing, unimplemented
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, now

MAX_AGE = 35 * 86400
WHOLE_NUMBER = re.compile(r"-?\d{1,15}")
MAX_AHEAD = 5 * 60


# The payload keys every meter reads: Stripe's defaults, the only ones the simulator implements.
PAYLOAD_KEYS = {"customer_mapping": "stripe_customer_id", "value_settings": "value"}


def create_meter(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    for setting, key in PAYLOAD_KEYS.items():
        given = (p.get(setting) or {}).get("event_payload_key", key)
        if given != key:
            raise unimplemented(f"{setting}[event_payload_key]", f"A payload key other than {key}")
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
        # Stripe enforces identifier uniqueness for at least 24 hours by refusing the resend
        # (400, no code; only a replay of the same Idempotency-Key answers 200 again).
        raise StripeError(400, f"An event already exists with identifier {identifier}.")
    timestamp = int(p.get("timestamp") or now())
    if timestamp < now() - MAX_AGE:
        raise invalid("timestamp", "Timestamp must be within the past 35 calendar days.")
    if timestamp > now() + MAX_AHEAD:
        raise invalid("timestamp", "Timestamp must not be more than 5 minutes in the future.")
    payload = p["payload"]
    if "value" not in payload:
        raise invalid(
            "payload[value]", "Missing required param: payload[value].", "parameter_missing"
        )
    event = shape(
        "billing.meter_event",
        created=now(),
        event_name=p["event_name"],
        identifier=identifier,
        payload=payload,
        timestamp=timestamp,
        livemode=False,
    )
    store.meter_events[identifier] = event
    problem = _problem(store, event)
    if problem is not None:
        store.meter_errors.append({"identifier": identifier, **problem})
    return event


def _problem(store: Store, event: dict[str, Any]) -> dict[str, str] | None:
    if not any(m["event_name"] == event["event_name"] for m in store.all("billing.meter")):
        return {"code": "no_meter", "message": f"No meter for event_name {event['event_name']}"}
    value = event["payload"].get("value", "")
    if not WHOLE_NUMBER.fullmatch(value):  # Stripe takes whole numbers only, checked later
        return {"code": "meter_event_invalid_value", "message": f"Invalid value {value!r}"}
    customer = event["payload"].get("stripe_customer_id", "")
    if not customer:
        return {"code": "meter_event_no_customer_defined", "message": "No customer in payload"}
    if customer not in store.objects.get("customer", {}):
        message = f"Customer {customer} was not found"
        return {"code": "meter_event_customer_not_found", "message": message}
    return None


def billable(store: Store, event: dict[str, Any]) -> bool:
    return _problem(store, event) is None


def usage(store: Store, customer: str, start: int, end: int) -> int:
    return sum(
        int(e["payload"]["value"])
        for e in store.meter_events.values()
        if e["payload"].get("stripe_customer_id") == customer
        and start <= e["timestamp"] < end
        and billable(store, e)
    )


def report_errors(store: Store) -> dict[str, Any]:
    """Stripe's periodic error report: one v2 event per meter over the errors since the last."""
    errors, store.meter_errors = store.meter_errors, []
    meters = store.all("billing.meter")
    if not errors or not meters:
        return {"reported": 0}
    by_code: dict[str, list[dict[str, str]]] = {}
    for error in errors:
        by_code.setdefault(error["code"], []).append(error)
    moment = now()
    summary = f"{len(errors)} meter event(s) could not be billed"
    store.emit_v2(
        "v1.billing.meter.error_report_triggered",
        {
            "id": meters[-1]["id"],
            "type": "billing.meter",
            "url": f"/v1/billing/meters/{meters[-1]['id']}",
        },
        {
            "developer_message_summary": summary,
            "reason": {
                "error_count": len(errors),
                "error_types": [
                    {
                        "code": code,
                        "error_count": len(found),
                        "sample_errors": [
                            {
                                "error_message": e["message"],
                                "request": {"identifier": e["identifier"]},
                            }
                            for e in found[:5]
                        ],
                    }
                    for code, found in by_code.items()
                ],
            },
            "validation_start": _iso(moment - 3600),
            "validation_end": _iso(moment),
        },
    )
    return {"reported": len(errors)}


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def v2_event(store: Store, event_id: str) -> dict[str, Any]:
    for event in store.v2_events:
        if event["id"] == event_id:
            return event
    raise missing("event", event_id)
