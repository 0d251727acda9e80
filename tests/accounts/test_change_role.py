from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def change(client, team, membership_id, role):
    return client.post(f"/a/{team.slug}/members/{membership_id}/role/", {"role": role})


def bob_membership(team, bob):
    return Membership.objects.get(account=team, user=bob)


def test_it_works(client, alice, bob, team):
    client.force_login(alice)
    member = bob_membership(team, bob)
    assert change(client, team, member.pk, "billing").status_code == 302
    member.refresh_from_db()
    assert member.role == Role.BILLING
    event = team.audit_events.get(action="member.role_changed")
    assert (event.actor, event.target, event.data) == (
        alice, "bob@example.com", {"from": "developer", "to": "billing"},
    )  # fmt: skip


def test_it_lets_an_admin_change_a_developer(client, member_with_role, bob, team):
    client.force_login(member_with_role(Role.ADMIN).user)
    change(client, team, bob_membership(team, bob).pk, "admin")
    assert bob_membership(team, bob).role == Role.ADMIN


def test_it_refuses_a_developer(client, bob, member_with_role, team):
    other = member_with_role(Role.BILLING)
    client.force_login(bob)
    assert change(client, team, other.pk, "admin").status_code == 403
    other.refresh_from_db()
    assert other.role == Role.BILLING


def test_it_404s_for_a_bad_id(client, alice, team, charlie):
    client.force_login(alice)
    assert change(client, team, 999999, "admin").status_code == 404
    elsewhere = charlie.memberships.get()
    assert change(client, team, elsewhere.pk, "developer").status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.role == Role.OWNER


def test_it_404s_for_an_outsider(client, charlie, bob, team):
    client.force_login(charlie)
    assert change(client, team, bob_membership(team, bob).pk, "owner").status_code == 404
    assert bob_membership(team, bob).role == Role.DEVELOPER


def test_it_refuses_get(client, alice, bob, team):
    client.force_login(alice)
    assert (
        client.get(f"/a/{team.slug}/members/{bob_membership(team, bob).pk}/role/").status_code
        == 405
    )


def test_it_keeps_the_last_owner(client, alice, team):
    client.force_login(alice)
    mine = Membership.objects.get(account=team, user=alice)
    response = change(client, team, mine.pk, "admin")
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.role == Role.OWNER
    page = client.get(response.url).content.decode()
    assert "keeps at least one owner" in page


def test_an_owner_may_step_down_when_another_owner_remains(client, alice, bob, team):
    client.force_login(alice)
    change(client, team, bob_membership(team, bob).pk, "owner")
    mine = Membership.objects.get(account=team, user=alice)
    change(client, team, mine.pk, "developer")
    mine.refresh_from_db()
    assert mine.role == Role.DEVELOPER
    assert list(team.owners()) == [bob]


def test_an_admin_cannot_touch_an_owner_or_make_one(client, member_with_role, alice, bob, team):
    client.force_login(member_with_role(Role.ADMIN).user)
    change(client, team, Membership.objects.get(account=team, user=alice).pk, "developer")
    change(client, team, bob_membership(team, bob).pk, "owner")
    assert list(team.owners()) == [alice]
    assert bob_membership(team, bob).role == Role.DEVELOPER


def test_it_refuses_an_unknown_role(client, alice, bob, team):
    client.force_login(alice)
    response = change(client, team, bob_membership(team, bob).pk, "emperor")
    assert "Choose one of the roles" in client.get(response.url).content.decode()
    assert bob_membership(team, bob).role == Role.DEVELOPER
