"""Tollgate on a real three-master Redis Cluster (REDIS_CLUSTER=true): the gateway's counting
(the exact quota under concurrent load, behind nginx), the usage flush, key and policy
invalidation, and Django's cache. The Celery broker stays on the plain Redis."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from django.core.cache import caches
from django.db.models import Sum
from django.test import override_settings

from apikeys import records
from core.redis_keys import DIRTY_ACCOUNTS, account_tag, counter_keys
from gateway import counting, invalidation
from gateway.policy import NO_LIMIT, Limits, policies
from portal.env import kombu_redis_url
from portal.redis_client import get_redis
from tests.gateway.stack import GatewayStack, hammer
from tests.gateway.support import ask, make_key, make_plan
from tests.helpers import wait_for
from tests.redis_cluster import RedisClusterServers
from usage.flush import flush, sweep
from usage.models import HourlyUsage

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
QUOTA, REQUESTS, CONNECTIONS = 500, 5_000, 100
NOW = datetime(2026, 11, 23, 22, 30, tzinfo=UTC).timestamp()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    servers = RedisClusterServers(tmp_path_factory.mktemp("cluster")).start()
    yield servers
    servers.stop()


@pytest.fixture
def on_cluster(cluster, settings):
    """This process on the cluster: its client, its listeners and its Django cache."""
    plain_broker = kombu_redis_url(settings.REDIS_URL)
    for port in cluster.ports:
        cluster.node(port).flushall()
    listeners = (records.listener, invalidation.listener)
    was_listening = invalidation.listener.connected
    for listener in listeners:
        listener.stop()
    cache = {"BACKEND": "portal.redis_cache.RedisClusterCache", "LOCATION": cluster.url}
    with override_settings(REDIS_URL=cluster.url, REDIS_CLUSTER=True, CACHES={"default": cache}):
        yield cluster, plain_broker
        for listener in listeners:
            listener.stop()
    if was_listening:  # as the tests before found it, on the configured Redis
        invalidation.ensure_listening()


def accounts_on_every_node(team, user_factory, cluster):
    """Accounts until each master holds at least one account's keys."""
    from accounts.models import Account

    accounts, nodes = [team], set()
    client = get_redis()
    nodes.add(client.get_node_from_key(account_tag(team.id)).name)
    while len(nodes) < len(cluster.ports):
        account = Account.objects.create_with_owner(f"A{len(accounts)}", user_factory())
        accounts.append(account)
        nodes.add(client.get_node_from_key(account_tag(account.id)).name)
    return accounts


def test_the_gateway_admits_exactly_the_quota_on_a_cluster(on_cluster, tmp_path, team, product):
    cluster, plain_broker = on_cluster
    make_plan("quota500", [product], is_default=True, requests_per_period=QUOTA)
    raw, _ = make_key(team)
    stack = GatewayStack(
        tmp_path, redis_url=cluster.url, REDIS_CLUSTER="true", CELERY_BROKER_URL=plain_broker
    ).start()
    try:
        statuses = hammer(stack.port, "/demo/hello", raw, REQUESTS, CONNECTIONS)
    finally:
        stack.stop()
    assert statuses == {200: QUOTA, 429: REQUESTS - QUOTA}
    quota_keys = list(get_redis().scan_iter(match=f"{account_tag(team.pk)}:quota:live:*"))
    assert [int(get_redis().get(key)) for key in quota_keys] == [QUOTA]


def test_counting_and_the_flush_work_across_the_masters(on_cluster, team, user_factory):
    cluster, _ = on_cluster
    accounts = accounts_on_every_node(team, user_factory, cluster)
    limits = Limits(NO_LIMIT, NO_LIMIT, 3, hard_cap=True)
    for n, account in enumerate(accounts, 1):
        keys = counter_keys(account.id, "live", NOW, 0)
        for _ in range(n + 3):  # n + 3 calls: 3 admitted, n refused
            counting.check_and_count(keys, limits, "key_a|demo|GET /x", 3600, NOW)
    assert get_redis().smembers(DIRTY_ACCOUNTS) == {str(a.id).encode() for a in accounts}
    summary = flush(get_redis())
    assert summary.account_ids == {account.id for account in accounts}
    for n, account in enumerate(accounts, 1):
        rows = HourlyUsage.objects.filter(account=account)
        assert dict(rows.values_list("outcome").annotate(n=Sum("count"))) == {
            "ok": 3,
            "quota_exceeded": n,
        }
    assert flush(get_redis()).applied == 0
    # A hash whose mark was lost: the sweep scans every master and finds it.
    keys = counter_keys(accounts[-1].id, "live", NOW + 3600, 0)
    counting.check_and_count(
        keys, Limits(NO_LIMIT, NO_LIMIT, NO_LIMIT, True), "k|d|x", 3600, NOW + 3600
    )
    get_redis().delete(DIRTY_ACCOUNTS)
    assert sweep(get_redis()) == 1
    assert flush(get_redis()).calls == 1


def test_the_gateway_follows_a_slot_that_moved_to_another_master(on_cluster, team, product):
    cluster, _ = on_cluster
    make_plan("three", [product], is_default=True, requests_per_period=3)
    raw, _ = make_key(team)
    assert [ask(raw)[0] for _ in range(2)] == [204, 204]  # this thread now talks to the owner
    move_slot(cluster, get_redis().keyslot(account_tag(team.pk)))
    assert [ask(raw)[0] for _ in range(2)] == [204, 403]  # MOVED, followed: the count went along


def test_the_gateway_asks_the_importing_master_while_a_slot_moves(on_cluster, team, product):
    cluster, _ = on_cluster
    make_plan("three", [product], is_default=True, requests_per_period=3)
    raw, _ = make_key(team)
    assert ask(raw)[0] == 204
    slot = get_redis().keyslot(account_tag(team.pk))
    finish = start_moving(cluster, slot)
    # The old master has none of the slot's keys now: it answers ASK, and the call goes to the
    # new one after ASKING, where the count continues.
    assert [ask(raw)[0] for _ in range(3)] == [204, 204, 403]
    finish()
    assert ask(raw)[0] == 403


def move_slot(cluster: RedisClusterServers, slot: int) -> None:
    """Migrate a slot and its keys to another master, as `redis-cli --cluster reshard` does."""
    start_moving(cluster, slot)()


def start_moving(cluster: RedisClusterServers, slot: int):
    """Mark a slot migrating, move its keys; returns what hands the slot over for good."""
    nodes = {port: cluster.node(port) for port in cluster.ports}
    ids = {port: node.cluster("myid").decode() for port, node in nodes.items()}
    source = next(port for port, node in nodes.items() if node.cluster("countkeysinslot", slot))
    target = next(port for port in nodes if port != source)
    nodes[target].cluster("setslot", slot, "importing", ids[source])
    nodes[source].cluster("setslot", slot, "migrating", ids[target])
    keys = nodes[source].cluster("getkeysinslot", slot, 1000)
    nodes[source].migrate("127.0.0.1", target, keys, 0, 5000)

    def finish() -> None:
        for node in nodes.values():
            node.cluster("setslot", slot, "node", ids[target])

    return finish


def test_a_revoked_key_is_refused_through_the_cluster_within_a_second(on_cluster, team):
    cluster, _ = on_cluster
    raw, key = make_key(team)
    records.listener.ensure_running()
    assert records.listener.wait_until_connected(5)
    assert records.lookup(raw).status == "active"
    # Published on a master other than the listener's: a cluster's PUBLISH reaches every node.
    for port in cluster.ports:
        cluster.node(port).publish("tg:apikeys:invalidate", "unrelated")
    key.revoke()
    started = time.monotonic()
    wait_for(lambda: records.lookup(raw).status == "revoked", timeout=1, what="the revocation")
    assert time.monotonic() - started < 1


def test_a_policy_change_published_on_any_master_reaches_the_gateway(on_cluster, team, free_plan):
    cluster, _ = on_cluster
    raw, _ = make_key(team)
    invalidation.ensure_listening()  # what each gateway process does on its first call
    assert invalidation.listener.wait_until_connected(5)
    ask(raw)  # caches the policy
    for port in cluster.ports:
        assert team.pk in policies
        cluster.node(port).publish(invalidation.CHANNEL, str(team.pk))
        wait_for(lambda: team.pk not in policies, timeout=1, what="the invalidation")
        ask(raw)


def test_djangos_cache_works_on_the_cluster(on_cluster):
    cache = caches["default"]
    values = {f"key-{n}": n * 1.5 for n in range(20)}  # spread over the slots of all masters
    cache.set_many(values, timeout=60)
    assert cache.get_many(list(values)) == values
    cache.set("counter", 1)
    assert cache.incr("counter") == 2
    assert cache.add("counter", 5) is False
    cache.delete_many(list(values))
    assert cache.get_many(list(values)) == {}
    assert cache.get("counter") == 2
