from __future__ import annotations

import pytest
from django.core.management import call_command

from gateway import invalidation
from gateway.policy import policies
from tests.gateway.support import ask, make_key, make_plan
from tests.helpers import wait_for

pytestmark = pytest.mark.usefixtures("redis_db", "free_plan")


def test_it_applies_a_new_plan_at_once_and_keeps_the_periods_count(
    team, product, django_capture_on_commit_callbacks
):
    make_plan("bigger", [product], requests_per_period=10)
    raw, _ = make_key(team)
    assert [ask(raw)[0] for _ in range(5)] == [204] * 5
    assert ask(raw)[0] == 403
    with django_capture_on_commit_callbacks(execute=True):
        call_command("set_plan", account=team.slug, plan="bigger", reason="r")
    status, headers, _ = ask(raw)
    assert (status, headers["X-Plan"]) == (204, "bigger")
    assert headers["X-Quota-Remaining"] == "4"  # 6 of 10 used: the count survived the change


def test_it_drops_a_policy_when_another_process_publishes_a_change(team, redis_db):
    raw, _ = make_key(team)
    ask(raw)  # starts this process's listener and caches the policy
    assert team.pk in policies
    wait_for(lambda: redis_db.pubsub_numsub(invalidation.CHANNEL)[0][1] >= 1, what="listener")
    redis_db.publish(invalidation.CHANNEL, str(team.pk))  # as another process would
    wait_for(lambda: team.pk not in policies, timeout=1, what="invalidation")
