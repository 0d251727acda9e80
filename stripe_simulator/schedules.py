"""Subscription schedules: planned changes (a downgrade at the period end) applied at renewal.

A schedule made `from_subscription` starts with one phase, the current period at the current
prices; updating it replaces its phases (the current one must keep its start). At a renewal
that begins a phase, the subscription takes that phase's prices before it is invoiced, so the
renewal invoice is at the new prices. When the last phase ends, `end_behavior=release` leaves
the subscription as it is and detaches the schedule.
"""

from __future__ import annotations

import copy
from typing import Any

from stripe_simulator.errors import StripeError, invalid, unimplemented
from stripe_simulator.shapes import item as shaped_item
from stripe_simulator.shapes import new_id, shape
from stripe_simulator.store import Store, add_interval, now


def _phase(
    store: Store, items: list[dict[str, Any]], start: int, end: int, where: str
) -> dict[str, Any]:
    from stripe_simulator.subscriptions import plan_of

    phase_items = []
    for index, item in enumerate(items):
        price = store.get("price", item.get("price", ""), f"{where}[items][{index}][price]")
        if not price["active"]:
            raise inactive_price(f"{where}[items][{index}][price]")
        phase_item = shaped_item("subscription_schedule", "phases.items", price=price["id"],
                                 plan=plan_of(price), billing_thresholds=None)  # fmt: skip
        if price["recurring"]["usage_type"] == "licensed":
            phase_item["quantity"] = int(item.get("quantity") or 1)
        else:
            del phase_item["quantity"]
        phase_items.append(phase_item)
    return shaped_item(
        "subscription_schedule",
        "phases",
        items=phase_items,
        start_date=start,
        end_date=end,
        currency=store.get("price", phase_items[0]["price"])["currency"] if phase_items else "usd",
        transfer_data=None,
        billing_thresholds=None,
        invoice_settings=None,
        proration_behavior="create_prorations",
    )


def inactive_price(param: str) -> StripeError:
    return StripeError(
        400, "The price specified is inactive. This field only accepts active prices.", param=param
    )


def create(store: Store, p: dict[str, Any]) -> dict[str, Any]:
    from stripe_simulator.subscriptions import period

    sub = store.get("subscription", p["from_subscription"], "from_subscription")
    if sub["status"] == "canceled":
        raise invalid("from_subscription", "You cannot migrate a canceled subscription.")
    if sub.get("schedule"):
        raise invalid(
            "from_subscription",
            f"You cannot migrate a subscription that is already attached to a schedule: "
            f"`{sub['schedule']}`.",
        )
    start, end = period(sub)
    items = [
        {"price": i["price"]["id"], "quantity": i.get("quantity")} for i in sub["items"]["data"]
    ]
    schedule = shape(
        "subscription_schedule",
        id=new_id("sub_sched"),
        created=now(),
        canceled_at=None,
        completed_at=None,
        released_at=None,
        released_subscription=None,
        customer=sub["customer"],
        subscription=sub["id"],
        status="active",
        end_behavior="release",
        metadata=p.get("metadata", {}),
        current_phase={"start_date": start, "end_date": end},
        phases=[_phase(store, items, start, end, "from_subscription")],
    )
    schedule["default_settings"].update(transfer_data=None, billing_thresholds=None)
    store.put(schedule)
    store.emit("subscription_schedule.created", schedule)
    before = copy.deepcopy(sub)
    sub["schedule"] = schedule["id"]
    store.updated("customer.subscription.updated", sub, before)
    return schedule


def update(store: Store, schedule_id: str, p: dict[str, Any]) -> dict[str, Any]:
    schedule = store.get("subscription_schedule", schedule_id)
    if schedule["status"] not in ("active", "not_started"):
        raise invalid(
            "id", f"You cannot update a subscription schedule that is {schedule['status']}."
        )
    before = copy.deepcopy(schedule)
    if "phases" in p:
        schedule["phases"] = _phases(store, schedule, p["phases"])
    schedule["end_behavior"] = p.get("end_behavior", schedule["end_behavior"])
    schedule["metadata"].update(p.get("metadata") or {})
    store.updated("subscription_schedule.updated", schedule, before)
    return schedule


def _phases(
    store: Store, schedule: dict[str, Any], given: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    current_start = schedule["current_phase"]["start_date"]
    phases = []
    start = _timestamp(given[0].get("start_date"), "phases[0][start_date]") or current_start
    if start != current_start:
        raise invalid(
            "phases[0][start_date]",
            "You can not modify the start date of the current phase.",
        )
    _check_items(schedule, given)
    for index, phase in enumerate(given):
        where = f"phases[{index}]"
        end = _timestamp(phase.get("end_date"), f"{where}[end_date]")
        duration = phase.get("duration")
        if end is None:
            count = int((duration or {}).get("interval_count") or 1)
            end = start
            for _ in range(count):
                end = add_interval(end, (duration or {}).get("interval", "month"))
        if end <= start:
            raise invalid(f"{where}[end_date]", "A phase must end after it starts.")
        phases.append(_phase(store, phase["items"], start, end, where))
        start = end
    return phases


def _check_items(schedule: dict[str, Any], given: list[dict[str, Any]]) -> None:
    """What the simulator implements of phases: quantity 1, and the current phase keeping the
    subscription's prices (a schedule here plans changes for its next phases)."""
    for index, phase in enumerate(given):
        for number, item in enumerate(phase["items"]):
            if item.get("quantity", "1") != "1":
                where = f"phases[{index}][items][{number}][quantity]"
                raise unimplemented(where, "A quantity other than 1")
    start = schedule["current_phase"]["start_date"]
    current: dict[str, Any] = next(
        (p for p in schedule["phases"] if p["start_date"] == start), {"items": []}
    )
    if sorted(i["price"] for i in given[0]["items"]) != sorted(
        i["price"] for i in current["items"]
    ):
        raise unimplemented("phases[0][items]", "Changing the prices of the current phase")


def _timestamp(value: str | None, param: str) -> int | None:
    if value in (None, ""):
        return None
    if value == "now":
        return now()
    if not str(value).isdigit():
        raise invalid(param, f"Invalid timestamp: {value}", "parameter_invalid_integer")
    return int(str(value))


def release(store: Store, schedule_id: str) -> dict[str, Any]:
    schedule = store.get("subscription_schedule", schedule_id)
    if schedule["status"] not in ("active", "not_started"):
        raise invalid(
            "id", f"You cannot release a subscription schedule that is {schedule['status']}."
        )
    _release(store, schedule)
    return schedule


def _release(store: Store, schedule: dict[str, Any]) -> None:
    before = copy.deepcopy(schedule)
    sub_id = schedule["subscription"]
    schedule.update(
        status="released",
        released_at=now(),
        released_subscription=sub_id,
        subscription=None,
        current_phase=None,
    )
    store.emit("subscription_schedule.released", schedule, before)
    sub = store.get("subscription", sub_id)
    sub_before = copy.deepcopy(sub)
    sub["schedule"] = None
    store.updated("customer.subscription.updated", sub, sub_before)


def next_phase(store: Store, sub: dict[str, Any], moment: int) -> dict[str, Any] | None:
    """The subscription's schedule phase that begins at `moment`, if there is one."""
    if not sub.get("schedule"):
        return None
    schedule = store.get("subscription_schedule", sub["schedule"])
    return next((p for p in schedule["phases"] if p["start_date"] == moment), None)


def phase_at(store: Store, sub: dict[str, Any], moment: int) -> list[dict[str, Any]] | None:
    """At a renewal: the items of the schedule's phase beginning at `moment`, if one does;
    the schedule is released when its last phase has ended."""
    if not sub.get("schedule"):
        return None
    schedule = store.get("subscription_schedule", sub["schedule"])
    phase = next_phase(store, sub, moment)
    if phase is not None:
        schedule["current_phase"] = {
            "start_date": phase["start_date"],
            "end_date": phase["end_date"],
        }
        items: list[dict[str, Any]] = phase["items"]
        return items
    if moment >= schedule["phases"][-1]["end_date"] and schedule["end_behavior"] == "release":
        _release(store, schedule)
    return None
