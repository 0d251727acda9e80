from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from accounts.signals import account_policy_changed
from tests.gateway.support import make_plan


@pytest.fixture
def pro(db):
    return make_plan("pro")


def test_it_puts_an_account_on_a_plan_by_slug_and_announces_it(team, pro):
    heard = []
    account_policy_changed.connect(lambda sender, account_id, **_: heard.append(account_id),
                                   weak=False, dispatch_uid="test_set_plan")  # fmt: skip
    try:
        call_command("set_plan", account=team.slug, plan="pro", stdout=StringIO())
    finally:
        account_policy_changed.disconnect(dispatch_uid="test_set_plan")
    team.refresh_from_db()
    assert team.plan == pro
    assert heard == [team.pk]
    event = AuditEvent.objects.get(account=team, action="plan.set")
    assert event.target == "pro"


def test_it_finds_a_personal_account_by_its_owners_email(alice, pro):
    call_command("set_plan", account="alice@example.com", plan="pro", stdout=StringIO())
    personal = alice.memberships.get(account__is_personal=True).account
    assert personal.plan == pro


def test_it_refuses_unknown_accounts_and_retired_or_unknown_plans(team, pro):
    with pytest.raises(CommandError, match="no open account"):
        call_command("set_plan", account="nobody", plan="pro")
    with pytest.raises(CommandError, match="no current"):
        call_command("set_plan", account=team.slug, plan="gold")
    make_plan("old", is_retired=True)
    with pytest.raises(CommandError, match="no current"):
        call_command("set_plan", account=team.slug, plan="old")
    team.refresh_from_db()
    assert team.plan is None
