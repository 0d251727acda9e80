"""Two requests at once must not break the team's rules: the account row is locked first."""

from __future__ import annotations

import threading

import pytest
from allauth.account.models import EmailAddress
from django.db import connection

from accounts.models import Invitation, InvitationError, Membership, MembershipError
from accounts.roles import Role

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # The test database of the embedded default is SQLite in memory with a shared cache, which
    # fails a waiting writer at once ("table is locked") instead of queueing it as the real file
    # database (WAL, IMMEDIATE transactions, 20 s timeout) does. CI runs these on PostgreSQL.
    pytest.mark.skipif(
        connection.vendor == "sqlite", reason="needs a database whose writers wait for locks"
    ),
]


def run_together(*actions):
    barrier = threading.Barrier(len(actions))
    outcomes: list[str] = []

    def run(action):
        barrier.wait()
        try:
            action()
            outcomes.append("ok")
        except (MembershipError, InvitationError) as error:
            outcomes.append(type(error).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return sorted(outcomes)


def test_two_owners_stepping_down_at_once_leave_one_owner(alice, team, user_factory):
    second = Membership.objects.create(account=team, user=user_factory(), role=Role.OWNER)
    first = Membership.objects.get(account=team, user=alice)

    def step_down(membership):
        return lambda: Membership.objects.get(pk=membership.pk).change_role(
            Role.ADMIN, by=Membership.objects.get(pk=membership.pk)
        )

    assert run_together(step_down(first), step_down(second)) == ["MembershipError", "ok"]
    assert team.memberships.filter(role=Role.OWNER).count() == 1


def test_a_double_click_on_accept_joins_once(alice, team, user_factory):
    dana = user_factory("dana@example.com")
    EmailAddress.objects.create(user=dana, email=dana.email, verified=True, primary=True)
    invitation = Invitation.objects.create(account=team, email=dana.email, role=Role.DEVELOPER)

    def accept():
        Invitation.objects.get(pk=invitation.pk).accept(dana)

    assert run_together(accept, accept) == ["InvitationError", "ok"]
    assert team.memberships.filter(user=dana).count() == 1
    assert team.audit_events.filter(action="member.joined").count() == 1
