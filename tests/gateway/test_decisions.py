from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from tests.gateway.support import ask, make_key, make_plan

pytestmark = pytest.mark.usefixtures("redis_db", "free_plan")


def test_it_admits_a_valid_key_with_identity_and_limit_headers(team):
    raw, key = make_key(team)
    with time_machine.travel(1_800_000_010, tick=False):
        status, headers, body = ask(raw)
    assert (status, body) == (204, b"")
    assert headers["X-Consumer-Id"] == str(team.pk)
    assert headers["X-Key-Id"] == key.public_id
    assert headers["X-Plan"] == "free"
    assert headers["X-Environment"] == "live"
    assert headers["RateLimit-Limit"] == "1000"
    assert headers["RateLimit-Remaining"] == "999"
    # The call sits in the minute's 6 s bucket that starts at ...008; it leaves the rolling
    # minute when the bucket 11 buckets later starts, at ...072.
    assert headers["RateLimit-Reset"] == "62"
    assert (headers["X-Quota-Limit"], headers["X-Quota-Remaining"]) == ("5", "4")


def test_it_reads_the_key_from_x_api_key_too(team):
    raw, _ = make_key(team)
    assert ask(raw, header="HTTP_X_API_KEY")[0] == 204


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "missing_key"),
        ("nonsense", "invalid_key"),
        ("tg_live_" + "a" * 32 + "_abcdef", "invalid_key"),
    ],
)
def test_it_refuses_missing_and_malformed_keys_with_401(raw, reason):
    status, headers, _ = ask(raw)
    assert status == 401
    assert headers["X-Deny-Reason"] == reason


def test_it_refuses_an_unknown_well_formed_key(db):
    from apikeys import keys

    status, headers, _ = ask(keys.generate("live"))
    assert (status, headers["X-Deny-Reason"]) == (401, "invalid_key")


@pytest.mark.parametrize(
    "fields",
    [
        {"revoked_at": timezone.now()},
        {"expires_at": timezone.now() - timedelta(seconds=1)},
        {"grace_ends_at": timezone.now() - timedelta(seconds=1)},
    ],
)
def test_it_refuses_revoked_expired_and_past_grace_keys(team, fields):
    raw, _ = make_key(team, **fields)
    status, headers, _ = ask(raw)
    assert (status, headers["X-Deny-Reason"]) == (401, "inactive_key")


def test_it_refuses_an_address_outside_the_keys_allowlist(team):
    raw, _ = make_key(team, allowed_ips=["192.0.2.0/24"])
    assert ask(raw, ip="192.0.2.7")[0] == 204
    status, headers, _ = ask(raw, ip="198.51.100.1")
    assert (status, headers["X-Deny-Reason"]) == (403, "ip_not_allowed")


def test_it_refuses_paths_outside_any_product(team):
    raw, _ = make_key(team)
    status, headers, _ = ask(raw, uri="/elsewhere/")
    assert (status, headers["X-Deny-Reason"]) == (403, "forbidden")


def test_it_refuses_what_the_plan_does_not_include(team, product):
    team.plan = make_plan("narrow", [(product, ["GET"], ["/demo/hello"])])
    team.save()
    raw, _ = make_key(team)
    assert ask(raw, uri="/demo/hello?x=1")[0] == 204
    assert ask(raw, uri="/demo/items/1")[1]["X-Deny-Reason"] == "forbidden"
    assert ask(raw, method="POST", uri="/demo/hello")[1]["X-Deny-Reason"] == "forbidden"


def test_it_refuses_what_the_key_is_restricted_from(team):
    raw, _ = make_key(team, allowed_methods=["GET"], allowed_path_prefixes=["/demo/items"])
    assert ask(raw, uri="/demo/items/3")[0] == 204
    assert ask(raw, uri="/demo/hello")[0] == 403
    assert ask(raw, method="POST", uri="/demo/items/3")[0] == 403
    other, _ = make_key(team, allowed_products=["another"])
    assert ask(other)[1]["X-Deny-Reason"] == "forbidden"


def test_it_refuses_a_closed_account(team):
    raw, _ = make_key(team)
    team.closed_at = timezone.now()
    team.save()
    assert ask(raw)[1]["X-Deny-Reason"] == "forbidden"


def test_it_enforces_the_period_quota_with_retry_after(team):
    raw, _ = make_key(team)
    assert [ask(raw)[0] for _ in range(5)] == [204] * 5
    status, headers, _ = ask(raw)
    assert (status, headers["X-Deny-Reason"]) == (403, "quota_exceeded")
    assert int(headers["Retry-After"]) >= 1
    assert headers["X-Quota-Remaining"] == "0"


def test_it_shares_the_quota_between_all_keys_of_an_account(team):
    first, _ = make_key(team)
    second, _ = make_key(team)
    assert [ask(k)[0] for k in (first, second) * 3] == [204] * 5 + [403]


def test_it_admits_beyond_the_quota_when_the_plan_bills_overage(team, product):
    team.plan = make_plan("metered", [product], requests_per_period=2, overage_price_per_1000=1)
    team.save()
    raw, _ = make_key(team)
    assert [ask(raw)[0] for _ in range(4)] == [204] * 4


def test_it_rate_limits_per_second_with_retry_after(team, product):
    team.plan = make_plan("tight", [product], requests_per_second=2)
    team.save()
    raw, _ = make_key(team)
    with time_machine.travel(1_800_000_000.2, tick=False):
        statuses = [ask(raw) for _ in range(3)]
    assert [s[0] for s in statuses] == [204, 204, 403]
    assert statuses[2][1]["X-Deny-Reason"] == "rate_limited"
    # Both calls are in the 100 ms bucket starting at .2; it leaves the rolling second at 1.3.
    assert statuses[2][1]["Retry-After"] == "2"
    assert statuses[2][1]["RateLimit-Remaining"] == "0"
    with time_machine.travel(1_800_000_001.299, tick=False):
        assert ask(raw)[0] == 403
    with time_machine.travel(1_800_000_001.3, tick=False):
        assert ask(raw)[0] == 204


def test_it_rate_limits_per_minute_until_the_calls_leave_the_rolling_minute(team, product):
    team.plan = make_plan("minute", [product], requests_per_minute=2)
    team.save()
    raw, _ = make_key(team)
    with time_machine.travel(1_800_000_010, tick=False):
        statuses = [ask(raw) for _ in range(3)]
    assert [s[0] for s in statuses] == [204, 204, 403]
    assert statuses[2][1]["Retry-After"] == "62"  # the 6 s bucket of ...008 leaves at ...072
    with time_machine.travel(1_800_000_071.999, tick=False):
        assert ask(raw)[0] == 403
    with time_machine.travel(1_800_000_072, tick=False):
        assert ask(raw)[0] == 204


def test_it_refuses_live_keys_of_an_account_that_must_pay(team, monkeypatch):
    from billing.standing import Standing, standing_of

    def owing(subscription, now):
        standing = standing_of(subscription, now)
        return Standing(standing.period_start, standing.period_end, payment_required=True)

    monkeypatch.setattr("gateway.policy.standing_of", owing)
    live, _ = make_key(team)
    test, _ = make_key(team, environment="test")
    assert ask(live)[1]["X-Deny-Reason"] == "payment_required"
    assert ask(test)[0] == 204  # the sandbox keeps working while the invoice is open


def test_it_gives_test_keys_their_own_quota(team, settings):
    settings.GATEWAY_TEST_KEY_PER_PERIOD = 2
    settings.GATEWAY_TEST_KEY_RPS = 100
    live, _ = make_key(team)
    test, _ = make_key(team, environment="test")
    assert [ask(test)[0] for _ in range(3)] == [204, 204, 403]
    assert ask(live)[1]["X-Quota-Remaining"] == "4"  # untouched by the test key's calls
    assert ask(test)[1]["X-Deny-Reason"] == "quota_exceeded"


def test_it_answers_404_without_the_secret(team):
    raw, _ = make_key(team)
    assert ask(raw, secret="")[0] == 404
    assert ask(raw, secret="wrong")[0] == 404


def test_the_secret_follows_a_changed_setting(team):
    """The secret is kept as bytes (the hot path): a changed GATEWAY_SECRET is taken at once,
    the old one refused meanwhile and taken again once the change is undone."""
    raw, _ = make_key(team)
    old = settings.GATEWAY_SECRET
    assert ask(raw)[0] == 204
    with override_settings(GATEWAY_SECRET="a new secret of some length"):
        assert ask(raw, secret=old)[0] == 404
        assert ask(raw, secret="a new secret of some length")[0] == 204
    assert ask(raw, secret="a new secret of some length")[0] == 404
    assert ask(raw)[0] == 204
