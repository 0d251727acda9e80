from __future__ import annotations

import re

import pytest
from django.core import mail

from accounts.models import AuditEvent, Invitation
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def invite(client, team, email="dana@example.com", role="developer"):
    return client.post(f"/a/{team.slug}/members/invite/", {"email": email, "role": role})


def test_it_works(client, alice, team, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(client, team, "Dana@Example.com")
    assert response.status_code == 302
    invitation = Invitation.objects.get(account=team)
    assert (invitation.email, invitation.role, invitation.invited_by) == (
        "dana@example.com", Role.DEVELOPER, alice,
    )  # fmt: skip
    assert AuditEvent.objects.filter(account=team, action="member.invited").count() == 1
    [message] = mail.outbox
    assert message.to == ["dana@example.com"]
    token = re.search(r"/invitations/([^\s/]+)/", message.body).group(1)
    assert Invitation.from_token(token) == invitation
    assert f"/invitations/{token}/" in message.alternatives[0][0]


def test_it_lets_an_admin_invite(client, member_with_role, team):
    admin = member_with_role(Role.ADMIN)
    client.force_login(admin.user)
    assert invite(client, team).status_code == 302
    assert Invitation.objects.filter(account=team).exists()


def test_it_refuses_a_developer(client, bob, team):
    client.force_login(bob)
    assert invite(client, team).status_code == 403
    assert not Invitation.objects.exists()


def test_it_404s_for_a_bad_account(client, alice):
    client.force_login(alice)
    assert invite(client, type("T", (), {"slug": "no-such-team"})).status_code == 404


def test_it_404s_for_an_outsider(client, charlie, team):
    client.force_login(charlie)
    assert invite(client, team).status_code == 404
    assert not Invitation.objects.exists()


def test_it_refuses_get(client, alice, team):
    client.force_login(alice)
    assert client.get(f"/a/{team.slug}/members/invite/").status_code == 405


def test_it_shows_field_errors_in_place(client, alice, team):
    client.force_login(alice)
    response = invite(client, team, email="not-an-email", role="emperor")
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter a valid email address." in page
    assert "Select a valid choice." in page
    assert not Invitation.objects.exists()


def test_it_refuses_inviting_a_member(client, alice, bob, team):
    client.force_login(alice)
    response = invite(client, team, email="bob@example.com")
    assert response.status_code == 400
    assert "already a member" in response.content.decode()


def test_only_an_owner_can_invite_an_owner(client, member_with_role, team):
    admin = member_with_role(Role.ADMIN)
    client.force_login(admin.user)
    response = invite(client, team, role="owner")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Invitation.objects.exists()


def test_a_new_invitation_replaces_a_pending_one(client, alice, team):
    client.force_login(alice)
    invite(client, team)
    invite(client, team, role="billing")
    assert list(team.invitations.pending().values_list("role", flat=True)) == ["billing"]
