from __future__ import annotations

import pytest

from gateway.models import UncountedCall
from tests.gateway.support import ask, make_key

pytestmark = pytest.mark.usefixtures("free_plan")


@pytest.fixture
def gateway_on_private_redis(settings, private_redis):
    settings.REDIS_URL = private_redis.url
    return private_redis


def test_it_answers_unavailable_when_redis_is_down_by_default(team, gateway_on_private_redis):
    raw, _ = make_key(team)
    assert ask(raw)[0] == 204
    gateway_on_private_redis.stop()
    status, headers, _ = ask(raw)
    assert (status, headers["X-Deny-Reason"], headers["Retry-After"]) == (403, "unavailable", "1")
    gateway_on_private_redis.start()
    assert ask(raw)[0] == 204


def test_it_admits_and_records_each_call_durably_when_configured_to_allow(
    team, settings, gateway_on_private_redis
):
    settings.GATEWAY_ON_REDIS_DOWN = "allow"
    raw, key = make_key(team)
    gateway_on_private_redis.stop()
    assert [ask(raw, uri="/demo/items/3")[0] for _ in range(3)] == [204, 204, 204]
    calls = list(UncountedCall.objects.values_list("key_id", "product", "endpoint_group"))
    assert calls == [(key.public_id, "demo", "GET /items/{id}")] * 3


def test_it_refuses_unknown_keys_even_when_configured_to_allow(
    db, settings, gateway_on_private_redis
):
    from apikeys import keys

    settings.GATEWAY_ON_REDIS_DOWN = "allow"
    gateway_on_private_redis.stop()
    assert ask(keys.generate("live"))[0] == 401
    assert not UncountedCall.objects.exists()


def test_it_reloads_the_script_after_redis_forgot_it(team, gateway_on_private_redis):
    raw, _ = make_key(team)
    assert ask(raw)[0] == 204
    gateway_on_private_redis.client().script_flush()
    assert ask(raw)[0] == 204
    assert ask(raw)[1]["X-Quota-Remaining"] == "2"


def test_it_replaces_a_connection_the_server_closed_without_losing_or_doubling_a_call(
    team, gateway_on_private_redis
):
    raw, _ = make_key(team)
    assert ask(raw)[0] == 204
    # As a Redis restart, failover or idle timeout would: drop every client but this one.
    gateway_on_private_redis.client().client_kill_filter(_type="normal", skipme=True)
    status, headers, _ = ask(raw)
    assert (status, headers["X-Quota-Remaining"]) == (204, "3")  # quota 5: two calls
