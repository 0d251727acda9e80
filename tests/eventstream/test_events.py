"""Access-log lines to usage events: the documented schema, and lines that are not events."""

from __future__ import annotations

import json

import jsonschema  # type: ignore[import-untyped]  # ships no type hints
import pytest

from eventstream.events import event_id, to_event
from tests.helpers import ROOT

SCHEMA = json.loads((ROOT / "docs" / "usage-event.schema.json").read_text())
LINE = {
    "time": "2026-11-28T21:00:00+00:00", "consumer": "7", "key_id": "k_abc",
    "environment": "live", "endpoint": "GET /items/{id}", "ip": "203.0.113.9", "method": "GET",
    "path": "/demo/items/1", "status": 200, "deny": "", "request_time": 0.012,
    "upstream_time": "0.010", "bytes": 120, "request_bytes": 310,
}  # fmt: skip


def test_an_admitted_and_a_refused_call_fit_the_schema():
    admitted = to_event(json.dumps(LINE), "ue_" + "0" * 32, "gw1")
    refused = to_event(
        json.dumps({**LINE, "consumer": "", "key_id": "", "deny": "missing_key", "status": 401,
                    "upstream_time": "", "environment": ""}),
        "ue_" + "1" * 32, "gw1",
    )  # fmt: skip
    for event in (admitted, refused):
        jsonschema.validate(event, SCHEMA)
    assert admitted["upstream_ms"] == 10.0 and admitted["total_ms"] == 12.0
    assert refused["account_id"] is None and refused["refusal_reason"] == "missing_key"
    assert refused["upstream_ms"] is None and not refused["admitted"]


@pytest.mark.parametrize("line", ["", "{", "5", "[1]", '{"status": "x"}', '{"time": "t"}'])
def test_lines_that_are_not_entries_are_skipped(line):
    assert to_event(line, "ue_x", "gw1") is None


def test_ids_are_stable_per_line_and_differ_between_lines():
    assert event_id("gw1", 5, 100) == event_id("gw1", 5, 100)
    assert len({event_id("gw1", 5, 100), event_id("gw1", 5, 101), event_id("gw2", 5, 100),
                event_id("gw1", 6, 100)}) == 4  # fmt: skip
