from __future__ import annotations

import pytest

from accounts.models import Membership
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def remove(client, team, membership_id):
    return client.post(f"/a/{team.slug}/members/{membership_id}/remove/")


def test_it_works(client, alice, bob, team):
    client.force_login(alice)
    member = Membership.objects.get(account=team, user=bob)
    assert remove(client, team, member.pk).status_code == 302
    assert not Membership.objects.filter(account=team, user=bob).exists()
    event = team.audit_events.get(action="member.removed")
    assert (event.actor, event.target) == (alice, "bob@example.com")


def test_it_lets_an_admin_remove_a_developer(client, member_with_role, bob, team):
    client.force_login(member_with_role(Role.ADMIN).user)
    remove(client, team, Membership.objects.get(account=team, user=bob).pk)
    assert not Membership.objects.filter(account=team, user=bob).exists()


def test_an_admin_cannot_remove_an_owner(client, member_with_role, alice, team):
    client.force_login(member_with_role(Role.ADMIN).user)
    remove(client, team, Membership.objects.get(account=team, user=alice).pk)
    assert list(team.owners()) == [alice]


def test_it_refuses_a_developer(client, bob, member_with_role, team):
    other = member_with_role(Role.BILLING)
    client.force_login(bob)
    assert remove(client, team, other.pk).status_code == 403
    assert Membership.objects.filter(pk=other.pk).exists()


def test_it_404s_for_a_bad_id(client, alice, charlie, team):
    client.force_login(alice)
    assert remove(client, team, 999999).status_code == 404
    assert remove(client, team, charlie.memberships.get().pk).status_code == 404
    assert charlie.memberships.exists()


def test_it_404s_for_an_outsider(client, charlie, bob, team):
    client.force_login(charlie)
    assert (
        remove(client, team, Membership.objects.get(account=team, user=bob).pk).status_code == 404
    )
    assert Membership.objects.filter(account=team, user=bob).exists()


def test_get_asks_first_and_changes_nothing(client, alice, bob, team):
    client.force_login(alice)
    member = Membership.objects.get(account=team, user=bob)
    response = client.get(f"/a/{team.slug}/members/{member.pk}/remove/")
    assert response.status_code == 200
    assert "Remove bob@example.com from Alice&#x27;s team?" in response.content.decode()
    assert Membership.objects.filter(pk=member.pk).exists()


def test_an_admin_is_told_before_confirming_that_an_owner_stays(
    client, member_with_role, alice, team
):
    client.force_login(member_with_role(Role.ADMIN).user)
    owner = Membership.objects.get(account=team, user=alice)
    page = client.get(f"/a/{team.slug}/members/{owner.pk}/remove/").content.decode()
    assert "Only an owner can change or remove another owner." in page


def test_it_keeps_the_last_owner(client, alice, team):
    client.force_login(alice)
    response = remove(client, team, Membership.objects.get(account=team, user=alice).pk)
    assert "keeps at least one owner" in client.get(response.url).content.decode()
    assert list(team.owners()) == [alice]
