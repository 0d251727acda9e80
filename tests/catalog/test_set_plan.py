from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditEvent
from accounts.signals import account_policy_changed
from catalog.models import Comp
from tests.gateway.support import make_plan


@pytest.fixture
def pro(db):
    return make_plan("pro")


def test_it_puts_an_account_on_a_plan_by_slug_and_announces_it(team, pro):
    heard = []
    account_policy_changed.connect(lambda sender, account_id, **_: heard.append(account_id),
                                   weak=False, dispatch_uid="test_set_plan")  # fmt: skip
    try:
        call_command(
            "set_plan",
            account=team.slug,
            plan="pro",
            reason="launch partner",
            by="ops@example.com",
            stdout=StringIO(),
        )
    finally:
        account_policy_changed.disconnect(dispatch_uid="test_set_plan")
    team.refresh_from_db()
    assert team.plan == pro
    assert heard == [team.pk]
    event = AuditEvent.objects.get(account=team, action="plan.set")
    assert event.target == "pro" and event.data["reason"] == "launch partner"
    comp = Comp.objects.get(account=team)
    assert (comp.plan, comp.granted_by, comp.reason, comp.until) == (
        pro,
        "ops@example.com",
        "launch partner",
        None,
    )


def test_it_finds_a_personal_account_by_its_owners_email(alice, pro):
    call_command("set_plan", account="alice@example.com", plan="pro", reason="r", stdout=StringIO())
    personal = alice.memberships.get(account__is_personal=True).account
    assert personal.plan == pro


def test_it_refuses_unknown_accounts_and_retired_or_unknown_plans(team, pro):
    with pytest.raises(CommandError, match="no open account"):
        call_command("set_plan", account="nobody", plan="pro", reason="r")
    with pytest.raises(CommandError, match="no current"):
        call_command("set_plan", account=team.slug, plan="gold", reason="r")
    make_plan("old", is_retired=True)
    with pytest.raises(CommandError, match="no current"):
        call_command("set_plan", account=team.slug, plan="old", reason="r")
    team.refresh_from_db()
    assert team.plan is None


def test_a_comp_says_why_and_may_end_on_a_day(team, pro, time_machine):
    time_machine.move_to("2026-11-28 12:00:00+00:00", tick=False)
    with pytest.raises(CommandError, match="--reason"):
        call_command("set_plan", account=team.slug, plan="pro")
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("set_plan", account=team.slug, plan="pro", reason="r", until="soon")
    with pytest.raises(CommandError, match="past"):
        call_command("set_plan", account=team.slug, plan="pro", reason="r", until="2026-11-27")
    call_command("set_plan", account=team.slug, plan="pro", reason="trial extension",
                 until="2026-12-15", stdout=StringIO())  # fmt: skip
    comp = Comp.objects.get(account=team)
    assert comp.until.isoformat() == "2026-12-15T23:59:59+00:00"


def test_end_withdraws_the_running_comp(team, pro):
    call_command("set_plan", account=team.slug, plan="pro", reason="r", stdout=StringIO())
    call_command("set_plan", account=team.slug, end=True, stdout=StringIO())
    team.refresh_from_db()
    assert team.plan is None and Comp.objects.get().ended_at is not None
    with pytest.raises(CommandError, match="no running comp"):
        call_command("set_plan", account=team.slug, end=True)
