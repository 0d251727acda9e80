"""Two gateway hosts for real: network namespaces of their own, each with nginx, an auth server
and log collectors, sharing the main host's PostgreSQL and Redis (tests/two_hosts.py)."""

from __future__ import annotations

import csv
import io
import os
import threading
from collections import Counter
from contextlib import suppress
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from core.redis_keys import account_tag
from portal.redis_client import get_redis
from tests.gateway.stack import hammer
from tests.gateway.support import make_key, make_plan, make_product
from tests.helpers import wait_for
from tests.two_hosts import GATEWAY_PORT, Host, TwoHosts
from usage.collector import parse_line
from usage.flush import flush
from usage.models import EndpointHourStats, HourlyUsage, LogCursor

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
QUOTA, CALLS = 500, 5_000


@pytest.fixture
def hosts(tmp_path, redis_db):
    if os.geteuid() != 0:
        pytest.skip("network namespaces (ip netns) need root; CI runs as root")
    if connection.vendor != "postgresql":
        pytest.skip("the hosts share one PostgreSQL; the embedded SQLite is one machine's file")
    redis_url = urlsplit(settings.REDIS_URL)
    if redis_url.scheme != "redis":
        pytest.skip("the hosts reach Redis over TCP; REDIS_URL is a unix socket")
    db = connection.settings_dict
    database = (db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432), db["USER"], db["NAME"])
    make_plan(
        "quota500", [make_product()], is_default=True, requests_per_second=100_000,
        requests_per_minute=1_000_000, requests_per_period=QUOTA,
    )  # fmt: skip
    redis = (redis_url.hostname, redis_url.port or 6379, redis_url.path.strip("/") or "0")
    two = TwoHosts(tmp_path, database, redis)
    try:
        # Two collectors on host A, as two copies of a service started by mistake would be.
        yield two.start(collectors={"host-a": 2, "host-b": 1})
    finally:
        two.stop()


def call(host: Host, raw: str) -> int:
    (status,) = hammer(GATEWAY_PORT, "/demo/hello", raw, 1, 1, host=host.address)
    return status


def logged_calls(two: TwoHosts, host: Host) -> int:
    """The lines of a host's access log that the collector counts (calls with a consumer)."""
    return sum(parse_line(line) is not None for line in two.access_log(host))


def settles(read, expected) -> None:
    """read() comes to equal expected within 30 s (the collectors poll every second)."""
    with suppress(TimeoutError):
        wait_for(lambda: read() == expected, timeout=30, interval=0.2)
    assert read() == expected


def test_two_hosts_share_one_quota_one_count_and_every_change(hosts, client, alice, team):
    raw, key = make_key(team)
    statuses: dict[str, Counter[int]] = {}

    def load(host: Host) -> None:
        statuses[host.name] = hammer(GATEWAY_PORT, "/demo/hello", raw, CALLS // 2, 50, host.address)

    threads = [threading.Thread(target=load, args=(host,)) for host in hosts.hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(statuses.values(), Counter()) == {200: QUOTA, 429: CALLS - QUOTA}, statuses

    # Conservation: calls = quota counter = rollups = usage API = CSV.
    redis = get_redis()
    quota_keys = list(redis.scan_iter(match=f"{account_tag(team.pk)}:quota:live:*"))
    assert [int(redis.get(k)) for k in quota_keys] == [QUOTA]
    flush(redis)
    rows = HourlyUsage.objects.filter(account=team, key_id=key.public_id)
    assert dict(rows.values_list("outcome").annotate(n=Sum("count"))) == {
        "ok": QUOTA,
        "quota_exceeded": CALLS - QUOTA,
    }
    client.force_login(alice)
    today = timezone.now().date()
    start = (today - timedelta(days=1)).isoformat()  # a run across midnight sees every call
    query = {"start": start, "end": today.isoformat(), "by": "hour"}
    api_rows = client.get("/api/v1/usage/", {**query, "account": team.slug}).json()["results"]
    export = client.get(f"/a/{team.slug}/usage/export.csv", query)
    csv_rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    for source in (api_rows, csv_rows):
        assert sum(int(r["count"]) for r in source if r["outcome"] == "ok") == QUOTA

    # Each host's collectors count its own log, each line once, however many run.
    expected = {host.name: logged_calls(hosts, host) for host in hosts.hosts}
    assert sum(expected.values()) == QUOTA

    def collected() -> int:
        return EndpointHourStats.objects.filter(account=team).aggregate(n=Sum("count"))["n"] or 0

    sizes = {host.name: (host.directory / "access.log").stat().st_size for host in hosts.hosts}
    settles(lambda: dict(LogCursor.objects.values_list("host", "offset")), sizes)
    assert collected() == QUOTA
    # A plan change applies on both hosts...
    make_plan("bigger", [hosts_product()], requests_per_period=QUOTA * 10)
    call_command("set_plan", account=team.slug, plan="bigger", reason="the two-host test")
    for host in hosts.hosts:
        wait_for(lambda h=host: call(h, raw) == 200, timeout=2, what=f"the new plan on {host}")
    # ...and a key revoked through the portal is refused on both within a second.
    assert client.post(f"/a/{team.slug}/keys/{key.public_id}/revoke/").status_code == 200
    for host in hosts.hosts:
        wait_for(lambda h=host: call(h, raw) == 401, timeout=1, what=f"the revocation on {host}")
    # The calls admitted under the new plan, one per host, are collected too, once.
    settles(collected, QUOTA + len(hosts.hosts))


def hosts_product():
    from catalog.models import ApiProduct

    return ApiProduct.objects.get(slug="demo")
