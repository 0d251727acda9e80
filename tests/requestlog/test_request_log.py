"""The request log: every call of a known key from nginx's access log (refusals with their
reason), per account and key, filterable and paginated, pruned after its retention; staff see
any account's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from requestlog.models import LoggedRequest
from requestlog.recording import prune, record_lines
from usage.collector import collect_once

pytestmark = pytest.mark.django_db


def line(account, key, status=200, deny="", path="/demo/hello", ip="203.0.113.9", **extra):
    return json.dumps({
        "time": extra.pop("time", "2026-11-23T21:00:05+00:00"), "consumer": str(account.pk),
        "key_id": key.public_id, "environment": "live", "endpoint": "GET /hello", "ip": ip,
        "method": "GET", "path": path, "status": status, "deny": deny, "request_time": 0.004,
        "upstream_time": "0.003" if not deny else "", "bytes": 10, **extra,
    })  # fmt: skip


def test_the_collector_records_calls_and_refusals_once(tmp_path, team, live_key):
    log = tmp_path / "access.log"
    lines = [
        line(team, live_key),
        line(team, live_key, status=403, deny="forbidden", path="/other/x"),
        json.dumps({"consumer": "", "key_id": "", "status": 401, "deny": "invalid_key"}),
        "not json",
    ]
    log.write_text("\n".join(lines) + "\n")
    assert collect_once(log) == 4
    assert collect_once(log) == 0  # read once: the offset moved in the same transaction
    rows = list(LoggedRequest.objects.order_by("status"))
    assert [(r.status, r.reason, r.path, r.client_ip) for r in rows] == [
        (200, "", "/demo/hello", "203.0.113.9"),
        (403, "forbidden", "/other/x", "203.0.113.9"),
    ]
    assert rows[0].latency_ms == 3.0 and rows[1].latency_ms == 4.0


def test_hostile_lines_are_stored_as_text_or_dropped(team, live_key):
    record_lines([
        line(team, live_key, path="/demo/" + "a" * 2000, ip="not-an-ip", method="<script>"),
        line(team, live_key, consumer="99999999"),  # no such account
        line(team, live_key, consumer="-1"),
        line(team, live_key, time="yesterday"),
    ])  # fmt: skip
    (row,) = LoggedRequest.objects.all()
    assert len(row.path) == 500 and row.client_ip is None


def test_the_page_filters_and_pages(client, alice, team, live_key, charlie, settings):
    now = timezone.now()
    for i in range(60):
        reason = "rate_limited" if i % 3 == 0 else ""
        LoggedRequest.objects.create(
            account=team, key_id=live_key.public_id, at=now - timedelta(seconds=i), method="GET",
            path=f"/demo/items/{i}", status=429 if reason else 200, latency_ms=1.5, reason=reason,
        )  # fmt: skip
    client.force_login(alice)
    url = f"/a/{team.slug}/requests/"
    page = client.get(url).content.decode()
    assert page.count("<tr>") == 51  # the header row and a page of 50
    assert "Page 1 of 2" in page and "<td>Rate limited</td>" in page
    refused = client.get(url, {"outcome": "refused"}).content.decode()
    assert refused.count("<tr>") == 21 and "/demo/items/1<" not in refused
    assert client.get(url, {"path": "items/59"}).content.decode().count("<tr>") == 2
    assert client.get(url, {"key": live_key.public_id, "page": "2"}).status_code == 200
    # Hostile filters: ignored, never a 500.
    for query in ({"status": "abc"}, {"key": "nope"}, {"outcome": "x"}, {"page": "-1"}):
        assert client.get(url, query).status_code == 200

    client.force_login(charlie)
    assert client.get(url).status_code == 404
    assert client.get(f"/staff/accounts/{team.slug}/requests/").status_code == 302  # to login
    charlie.is_staff = True
    charlie.save()
    staff_page = client.get(f"/staff/accounts/{team.slug}/requests/").content.decode()
    assert "Staff view" in staff_page and "/demo/items/0" in staff_page


def test_it_keeps_calls_for_the_retention_days(team, live_key, settings):
    settings.REQUEST_LOG_RETENTION_DAYS = 2
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    for days in (0, 1, 3):
        LoggedRequest.objects.create(
            account=team, key_id=live_key.public_id, at=now - timedelta(days=days),
            method="GET", path="/", status=200, latency_ms=1,
        )  # fmt: skip
    assert prune(now) == 1
    assert LoggedRequest.objects.count() == 2
