"""A pending invitation carries its sender's authority only while they hold it: removing,
demoting or losing the member who sent it revokes it (audited)."""

from __future__ import annotations

import pytest

from accounts.models import Invitation, Membership
from accounts.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(member_with_role):
    return member_with_role(Role.ADMIN)


def invite(account, sender, email="dana@example.com", role=Role.DEVELOPER):
    return account.invite(email, role, by=sender)


def is_pending(invitation):
    return Invitation.objects.pending().filter(pk=invitation.pk).exists()


def revocations(team, email="dana@example.com"):
    return list(
        team.audit_events.filter(action="invitation.revoked", target=email).values_list(
            "actor__email", "data"
        )
    )


def test_removing_the_sender_revokes_their_invitations(client, alice, team, admin):
    invitation = invite(team, admin)
    client.force_login(alice)
    client.post(f"/a/{team.slug}/members/{admin.pk}/remove/")
    assert not is_pending(invitation)
    assert revocations(team) == [("alice@example.com", {"reason": "inviter_removed"})]


def test_demoting_the_sender_below_inviting_revokes_their_invitations(client, alice, team, admin):
    invitation = invite(team, admin)
    client.force_login(alice)
    client.post(f"/a/{team.slug}/members/{admin.pk}/role/", {"role": Role.DEVELOPER})
    assert Membership.objects.get(pk=admin.pk).role == Role.DEVELOPER
    assert not is_pending(invitation)
    assert revocations(team) == [("alice@example.com", {"reason": "inviter_role_changed"})]


def test_an_owner_who_steps_down_loses_only_the_owner_invitations(alice, team, admin):
    owner_invite = invite(team, team.memberships.get(user=alice), "olga@example.com", Role.OWNER)
    dev_invite = invite(team, team.memberships.get(user=alice), "dana@example.com")
    team.transfer_ownership(by=team.memberships.get(user=alice), to=admin)
    assert not is_pending(owner_invite)
    assert is_pending(dev_invite)  # an admin may still invite developers
    assert revocations(team, "olga@example.com") == [
        ("alice@example.com", {"reason": "inviter_role_changed"})
    ]


def test_a_sender_who_leaves_takes_their_invitations(team, admin):
    invitation = invite(team, admin)
    admin.remove(by=admin)
    assert not is_pending(invitation)


def test_a_sender_who_deletes_their_profile_takes_their_invitations(team, admin):
    invitation = invite(team, admin)
    admin.user.delete_profile()
    assert not is_pending(invitation)


def test_other_members_invitations_stay(client, alice, team, admin):
    theirs = invite(team, team.memberships.get(user=alice))
    client.force_login(alice)
    client.post(f"/a/{team.slug}/members/{admin.pk}/remove/")
    assert is_pending(theirs)


def test_a_role_change_that_keeps_inviting_keeps_them(alice, team, admin):
    invitation = invite(team, admin)
    admin.change_role(Role.OWNER, by=team.memberships.get(user=alice))
    assert is_pending(invitation)
