from __future__ import annotations

import json
import os
import threading

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from usage import collector
from usage.collector import collect_once, percentile
from usage.models import LATENCY_COLUMNS, EndpointHourStats, LatencySummary, LogCursor

pytestmark = pytest.mark.django_db


def entry(team, status=200, upstream="0.004", minute=5, key="key_a"):
    return json.dumps(
        {
            "time": f"2026-11-23T22:{minute:02d}:00+00:00",
            "consumer": str(team.id),
            "key_id": key,
            "endpoint": "GET /demo/hello",
            "status": status,
            "request_time": "0.006",
            "upstream_time": upstream,
        }
    )


def write(path, *lines, end="\n"):
    with open(path, "a") as handle:
        handle.write("\n".join(lines) + end)


def test_it_counts_status_classes_and_latency(tmp_path, team):
    log = tmp_path / "access.log"
    write(log, *[entry(team) for _ in range(18)], entry(team, 503, "0.900"), entry(team, 404))
    write(log, "not json", json.dumps({"status": 401, "key_id": "", "consumer": ""}))
    assert collect_once(log) == 22
    ok = EndpointHourStats.objects.get(status_class="2xx")
    assert ok.count == 18 and ok.key_id == "key_a"
    assert percentile(ok.latency_histogram, 0.5) == 5.0  # 4 ms falls in the <=5 ms bucket
    assert EndpointHourStats.objects.get(status_class="5xx").count == 1
    assert EndpointHourStats.objects.get(status_class="4xx").count == 1


def test_rereading_counts_nothing_twice(tmp_path, team):
    log = tmp_path / "access.log"
    write(log, entry(team), entry(team))
    collect_once(log)
    assert collect_once(log) == 0
    write(log, entry(team))
    collect_once(log)
    assert EndpointHourStats.objects.get().count == 3


def test_a_half_written_line_waits_for_its_end(tmp_path, team):
    log = tmp_path / "access.log"
    line = entry(team)
    write(log, line, line[:20], end="")
    assert collect_once(log) == 1
    with open(log, "a") as handle:
        handle.write(line[20:] + "\n")
    assert collect_once(log) == 1
    assert EndpointHourStats.objects.get().count == 2


def test_a_rotated_log_is_read_from_its_start(tmp_path, team):
    log = tmp_path / "access.log"
    write(log, entry(team), entry(team), entry(team))
    collect_once(log)
    log.rename(tmp_path / "access.log.1")
    write(log, entry(team))
    collect_once(log)
    assert EndpointHourStats.objects.get().count == 4


def test_the_latency_summary_is_the_stats_summed_over_keys(tmp_path, team):
    log = tmp_path / "access.log"
    write(log, *[entry(team, key=key, upstream=up) for key in ("key_a", "key_b")
                 for up in ("0.004", "0.150", "0.004")])  # fmt: skip
    write(log, entry(team, 503, "0.900", key="key_b"))
    collect_once(log)
    write(log, entry(team, key="key_c"))  # a second read adds to the same rows
    collect_once(log)
    for span, start in (
        ("hour", "2026-11-23T22:00:00+00:00"),
        ("day", "2026-11-23T00:00:00+00:00"),
    ):
        rows = {
            row.status_class: row for row in LatencySummary.objects.filter(account=team, span=span)
        }
        assert rows.keys() == {"2xx", "5xx"} and rows["2xx"].start.isoformat() == start
        for status_class, row in rows.items():
            stats = EndpointHourStats.objects.filter(status_class=status_class)
            histograms = [s.latency_histogram for s in stats]
            assert row.count == sum(s.count for s in stats)
            assert [getattr(row, c) for c in LATENCY_COLUMNS] == [sum(h) for h in zip(*histograms)]
    assert LatencySummary.objects.get(span="hour", status_class="2xx").count == 7


def test_percentiles_come_from_the_histogram():
    histogram = [0] * 13
    histogram[2] = 50  # <= 5 ms
    histogram[6] = 45  # <= 100 ms
    histogram[8] = 5  # <= 500 ms
    assert percentile(histogram, 0.5) == 5.0
    assert percentile(histogram, 0.95) == 100.0
    assert percentile([0] * 13, 0.5) is None


def test_it_records_when_and_from_where_each_key_was_last_used(tmp_path, team):
    from apikeys.models import ApiKey

    key, _ = ApiKey.objects.issue(team, name="k", environment="live")
    log = tmp_path / "access.log"
    first = json.loads(entry(team, minute=5, key=key.public_id)) | {"ip": "192.0.2.1"}
    last = json.loads(entry(team, minute=9, key=key.public_id)) | {"ip": "192.0.2.7"}
    write(log, json.dumps(last), json.dumps(first))
    collect_once(log)
    key.refresh_from_db()
    assert key.last_used_ip == "192.0.2.7"
    assert key.last_used_at.minute == 9


def swap_in(log, host_file):
    """The file at the log's path as one host sees it (hosts share the path, not the file)."""
    os.replace(host_file, log)


def test_hosts_sharing_a_log_path_keep_their_own_place(tmp_path, team, settings):
    log, files = tmp_path / "access.log", {host: tmp_path / f"{host}.log" for host in "ab"}
    for host, calls in (("a", 3), ("b", 5)):
        write(files[host], *[entry(team) for _ in range(calls)])
    for host in ("a", "b", "a", "b"):  # each collects twice, turns interleaved
        settings.GATEWAY_HOST_ID = host
        swap_in(log, files[host])
        collect_once(log)
        os.replace(log, files[host])
    assert EndpointHourStats.objects.get().count == 3 + 5
    assert sorted(LogCursor.objects.values_list("host", "offset")) == [
        ("a", files["a"].stat().st_size),
        ("b", files["b"].stat().st_size),
    ]


@pytest.mark.django_db(transaction=True)
def test_two_collectors_on_one_host_count_each_line_once(tmp_path, team, monkeypatch):
    """While nginx keeps writing: a collector that waited for the lock must not take the log
    for a rotated one because another read past the size it saw before waiting."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's shared in-memory test database cannot take two writers at once")
    monkeypatch.setattr(collector, "CHUNK_BYTES", 2000)  # many chunks: many chances to race
    log, batches, per_batch = tmp_path / "access.log", 60, 10
    writing = threading.Event()
    writing.set()

    def nginx():
        for n in range(batches):
            write(log, *[entry(team, minute=n % 60) for _ in range(per_batch)])
        writing.clear()

    def collect():
        try:
            while collect_once(log) or writing.is_set():
                pass
            while collect_once(log):
                pass
        finally:
            connection.close()

    threads = [threading.Thread(target=nginx)] + [
        threading.Thread(target=collect) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(EndpointHourStats.objects.values_list("count", flat=True)) == batches * per_batch


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_existing_cursors_to_this_host(settings):
    settings.GATEWAY_HOST_ID = "gw-1"
    executor = MigrationExecutor(connection)
    executor.migrate([("usage", "0003_usage_summaries")])
    old_apps = executor.loader.project_state([("usage", "0003_usage_summaries")]).apps
    old_apps.get_model("usage", "LogCursor").objects.create(
        path="/var/log/nginx/access.log", inode=7, offset=1234
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    cursor = LogCursor.objects.get()
    assert (cursor.host, cursor.path, cursor.inode, cursor.offset) == (
        "gw-1",
        "/var/log/nginx/access.log",
        7,
        1234,
    )
