"""The simulator's in-memory Stripe: objects kept by resource, the events they emit, persistence.

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

from stripe_simulator.errors import missing
from stripe_simulator.shapes import new_id, shape

API_VERSION = "2026-10-28.endive"


def now() -> int:
    return int(time.time())


def add_month(ts: int) -> int:
    day = datetime.fromtimestamp(ts, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    last = calendar.monthrange(year, month)[1]
    return int(day.replace(year=year, month=month, day=min(day.day, last)).timestamp())


def add_year(ts: int) -> int:
    day = datetime.fromtimestamp(ts, UTC)
    last = calendar.monthrange(day.year + 1, day.month)[1]  # 29 February gives 28 February
    return int(day.replace(year=day.year + 1, day=min(day.day, last)).timestamp())


def add_interval(ts: int, interval: str) -> int:
    """The end of a billing period of one `interval` (a price's recurring interval)."""
    if interval == "year":
        return add_year(ts)
    if interval in ("day", "week"):
        return ts + (86400 if interval == "day" else 7 * 86400)
    return add_month(ts)


def by_kind(objects: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Objects as kept: by kind, then id. A state file of an earlier release kept them by id
    alone (Checkout's requests as "<session id>:request"): regrouped, so `make run` keeps them."""
    if all("object" not in value for value in objects.values()):
        return objects
    grouped: dict[str, dict[str, dict[str, Any]]] = {}
    for key, obj in objects.items():
        if obj["object"] == "_request":
            obj = {**obj, "id": key.removesuffix(":request"), "object": "_checkout_request"}
        grouped.setdefault(obj["object"], {})[obj["id"]] = obj
    return grouped


class Store:
    # kind ("customer", "subscription", ...) -> id -> object
    objects: dict[str, dict[str, dict[str, Any]]]
    events: list[dict[str, Any]]
    meter_events: dict[str, dict[str, Any]]
    idempotent: dict[str, tuple[str, int, Any]]  # key -> (request, status, body)
    fail_next_payment: set[str]
    invoice_sequence: int
    portal_configuration: str
    trial_end_announced: set[str]
    meter_errors: list[dict[str, str]]
    v2_events: list[dict[str, Any]]

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
    PERSISTED = (
        "objects",
        "events",
        "meter_events",
        "fail_next_payment",
        "invoice_sequence",
        "portal_configuration",
        "trial_end_announced",
        "meter_errors",
        "v2_events",
    )

    def load(self, path: Path) -> None:
        state = json.loads(path.read_text())
        self.objects = by_kind(state["objects"])
        self.events = state["events"]
        self.meter_events = state["meter_events"]
        self.fail_next_payment = set(state["fail_next_payment"])
        self.invoice_sequence = state["invoice_sequence"]
        self.portal_configuration = state.get("portal_configuration", self.portal_configuration)
        self.trial_end_announced = set(state.get("trial_end_announced", []))
        self.meter_errors = state.get("meter_errors", [])
        self.v2_events = state.get("v2_events", [])

    def save(self) -> None:
        if self.state_path is None:
            return
        state = {name: getattr(self, name) for name in self.PERSISTED}
        state["fail_next_payment"] = sorted(self.fail_next_payment)
        state["trial_end_announced"] = sorted(self.trial_end_announced)
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
        # The account's default Customer Portal configuration, which every session uses.
        self.portal_configuration = new_id("bpc")
        self.trial_end_announced = set()
        self.meter_errors = []  # meter events found unbillable since the last error report
        self.v2_events = []

    def put(self, obj: dict[str, Any], kind: str = "") -> dict[str, Any]:
        self.objects.setdefault(kind or obj["object"], {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str, param: str = "id") -> dict[str, Any]:
        obj = self.objects.get(kind, {}).get(object_id)
        if obj is None:
            raise missing(kind, object_id, param)
        return obj

    def find(self, object_id: str) -> dict[str, Any] | None:
        """The API object with this id, whatever its kind (for `expand`). The simulator's own
        records (kinds named `_...`: a session's request, an invoice's lines) share their
        object's id and are never answered."""
        for name, kind in self.objects.items():
            if object_id in kind and not name.startswith("_"):
                return kind[object_id]
        return None

    def all(self, kind: str) -> list[dict[str, Any]]:
        # Newest first; within one second, the later made first (the store keeps that order).
        found = list(reversed(self.objects.get(kind, {}).values()))
        return sorted(found, key=lambda o: o.get("created") or 0, reverse=True)

    def emit(
        self, event_type: str, obj: dict[str, Any], before: dict[str, Any] | None = None
    ) -> None:
        """Record and deliver an event; `before` (a copy taken before the change) gives an
        `*.updated` event its `previous_attributes`: the old values of the fields that changed."""
        data: dict[str, Any] = {"object": copy.deepcopy(obj)}
        if before is not None:
            data["previous_attributes"] = {
                name: copy.deepcopy(value)
                for name, value in before.items()
                if obj.get(name) != value
            }
        event = shape(
            "event",
            id=new_id("evt"),
            type=event_type,
            created=now(),
            api_version=API_VERSION,
            data=data,
            request={"id": None, "idempotency_key": None},
            livemode=False,
            pending_webhooks=1,
        )
        self.events.append(event)
        self.on_event(event)

    def emit_v2(self, event_type: str, related: dict[str, str], data: dict[str, Any]) -> None:
        """A v2 event: kept whole for /v2/core/events/{id}; its webhook is a thin notification."""
        created = datetime.fromtimestamp(now(), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        event = {"id": new_id("evt"), "object": "v2.core.event", "type": event_type,
                 "created": created, "livemode": False, "related_object": related}  # fmt: skip
        self.v2_events.append({**event, "data": data})
        self.events.append(event)
        self.on_event(event)

    def updated(self, event_type: str, obj: dict[str, Any], before: dict[str, Any]) -> None:
        """Emit `event_type` if anything changed since `before`."""
        if obj != before:
            self.emit(event_type, obj, before)

    def list_for(self, kind: str, p: dict[str, Any]) -> list[dict[str, Any]]:
        """What `GET /v1/<kind>s` lists for the filters `p` (before paging)."""
        from stripe_simulator.lists import matching

        return matching(self, kind, p)
