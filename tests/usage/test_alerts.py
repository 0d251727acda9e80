from __future__ import annotations

import pytest
from django.core import mail

from accounts.models import Membership
from accounts.roles import Role
from tests.usage.support import count_usage
from usage.models import QuotaAlert, UsagePreferences
from usage.tasks import flush_counters

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def on_pro(team, pro_plan, user_factory, time_machine):
    time_machine.move_to("2026-11-23 22:30:00+00:00", tick=False)
    team.plan = pro_plan  # 1,000 calls a period
    team.save()
    payer = user_factory("payer@example.com")
    Membership.objects.create(account=team, user=payer, role=Role.BILLING)
    return team


def traffic(redis_db, team, key, n):
    count_usage(
        redis_db, f"tg:{{acct:{team.id}}}:use:2026112322", f"{key.public_id}|demo|GET /x|ok", n
    )


def test_alerts_fire_once_per_threshold_across_flushes(redis_db, on_pro, live_key, bob):
    traffic(redis_db, on_pro, live_key, 790)
    flush_counters()
    assert mail.outbox == []
    traffic(redis_db, on_pro, live_key, 20)  # 810: past 80%
    flush_counters()
    flush_counters()
    assert [m.subject for m in mail.outbox] == [
        "Alice's team has used 80% of this period's API quota"
    ]
    assert sorted(mail.outbox[0].to) == ["alice@example.com", "payer@example.com"]  # not bob
    traffic(redis_db, on_pro, live_key, 300)  # 1,110: past 100%
    flush_counters()
    flush_counters()
    assert len(mail.outbox) == 2 and "100%" in mail.outbox[1].subject
    assert mail.outbox[1].alternatives[0][1] == "text/html"


def test_customer_thresholds_fire_too(redis_db, on_pro, live_key):
    UsagePreferences.objects.create(account=on_pro, extra_thresholds=[50])
    traffic(redis_db, on_pro, live_key, 600)
    flush_counters()
    assert [a.threshold for a in QuotaAlert.objects.all()] == [50]


def test_test_keys_never_count_towards_alerts(redis_db, on_pro):
    from apikeys import keys
    from apikeys.models import ApiKey

    raw = keys.generate("test")
    key = ApiKey.objects.create(
        account=on_pro, name="t", environment="test", prefix=keys.display_prefix(raw),
        last4=raw[-4:], key_hash=keys.hash_key(raw),
    )  # fmt: skip
    traffic(redis_db, on_pro, key, 5000)
    flush_counters()
    assert mail.outbox == []
