from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def transfer(client, team, membership_id):
    return client.post(f"/a/{team.slug}/transfer/", {"member": membership_id})


def test_it_works(client, alice, bob, team):
    client.force_login(alice)
    bobs = Membership.objects.get(account=team, user=bob)
    assert transfer(client, team, bobs.pk).status_code == 302
    assert list(team.owners()) == [bob]
    assert Membership.objects.get(account=team, user=alice).role == Role.ADMIN
    event = team.audit_events.get(action="account.ownership_transferred")
    assert (event.actor, event.target) == (alice, "bob@example.com")


def test_a_second_owner_can_transfer(client, alice, bob, member_with_role, team):
    other_owner = member_with_role(Role.OWNER)
    client.force_login(other_owner.user)
    transfer(client, team, Membership.objects.get(account=team, user=bob).pk)
    assert set(team.owners()) == {alice, bob}


def test_an_admin_cannot(client, member_with_role, bob, alice, team):
    client.force_login(member_with_role(Role.ADMIN).user)
    assert (
        transfer(client, team, Membership.objects.get(account=team, user=bob).pk).status_code == 403
    )
    assert list(team.owners()) == [alice]


def test_it_refuses_a_bad_id(client, alice, charlie, team):
    client.force_login(alice)
    response = transfer(client, team, charlie.memberships.get().pk)
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert list(team.owners()) == [alice]


def test_it_404s_for_an_outsider(client, charlie, bob, team):
    client.force_login(charlie)
    assert (
        transfer(client, team, Membership.objects.get(account=team, user=bob).pk).status_code == 404
    )


def test_it_refuses_get(client, alice, team):
    client.force_login(alice)
    assert client.get(f"/a/{team.slug}/transfer/").status_code == 405
