"""Reads compiled once per process give what their querysets give, for any value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Exists, OuterRef

from accounts.models import Account
from apikeys import keys
from apikeys.models import ApiKey
from billing.models import Subscription
from catalog.models import Plan
from core.prepared import PreparedRead
from credits.models import TimePass

pytestmark = pytest.mark.django_db

START = datetime(2026, 11, 1, tzinfo=UTC)


def subscription(account: Account, stripe_id: str, status: str, started: datetime) -> Subscription:
    return Subscription.objects.create(
        account=account, stripe_id=stripe_id, status=status, started_at=started,
        current_period_start=started, current_period_end=started + timedelta(days=30),
    )  # fmt: skip


def test_it_reads_what_the_queryset_reads_with_fields_converted(team, alice):
    other = Account.objects.create_with_owner("other", alice)
    subscription(team, "sub_old", "active", START)
    newest = subscription(team, "sub_new", "past_due", START + timedelta(days=1))
    subscription(team, "sub_gone", "canceled", START + timedelta(days=2))
    read = PreparedRead(Subscription.objects.current_of, int)
    for account in (team, other):
        expected = Subscription.objects.current_for(account)
        got = read.first(account.pk)
        assert (got and got.pk) == (expected and expected.pk)
    got = read.first(team.pk)
    assert got.pk == newest.pk
    assert got.current_period_start == START + timedelta(days=1)  # an aware datetime again
    assert got.status == "past_due" and got.account_id == team.pk


def test_annotations_come_back_as_attributes(team, alice):
    other = Account.objects.create_with_owner("other", alice)
    plan = Plan.objects.create(slug="pass", name="Pass")
    TimePass.objects.create(account=team, plan=plan, starts_at=START, ends_at=START,
                            checkout_session_id="cs_pass")  # fmt: skip
    read = PreparedRead(
        lambda pk: Account.objects.filter(pk=pk).annotate(
            has_pass=Exists(TimePass.objects.filter(account=OuterRef("pk")))
        )[:1],
        int,
    )
    assert bool(read.first(team.pk).has_pass) is True
    assert bool(read.first(other.pk).has_pass) is False
    assert read.first(-1) is None


@pytest.mark.parametrize(
    "hostile", ["x' OR '1'='1", "%", "%s", "'; DROP TABLE apikeys_apikey; --", "é" * 300]
)
def test_the_value_is_a_parameter_never_sql(team, hostile):
    raw = keys.generate("live")
    ApiKey.objects.create(account=team, name="k", environment="live", prefix="tg_live_x",
                          last4=raw[-4:], key_hash=keys.hash_key(raw))  # fmt: skip
    read = PreparedRead(lambda key_hash: ApiKey.objects.filter(key_hash=key_hash)[:1], str)
    assert read.first(keys.hash_key(raw)) is not None
    assert read.first(hostile) is None
    assert ApiKey.objects.count() == 1


def test_it_builds_the_queryset_once(team):
    built = []

    def build(pk):
        built.append(pk)
        return Account.objects.filter(pk=pk)[:1]

    read = PreparedRead(build, int)
    assert [read.first(team.pk).pk for _ in range(3)] == [team.pk] * 3
    assert len(built) == 1


def test_a_queryset_must_take_the_value_exactly_once(team):
    twice = PreparedRead(lambda pk: Account.objects.filter(pk=pk).exclude(plan_id=pk)[:1], int)
    never = PreparedRead(lambda pk: Account.objects.filter(name="x")[:1], int)
    for read in (twice, never):
        with pytest.raises(ValueError, match="parameter once"):
            read.first(team.pk)
