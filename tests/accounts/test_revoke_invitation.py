from __future__ import annotations

import pytest

from accounts.models import Account, Invitation
from accounts.roles import Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def invitation(team, alice):
    return Invitation.objects.create(
        account=team, email="dana@example.com", role=Role.DEVELOPER, invited_by=alice
    )


def url(team, invitation_id):
    return f"/a/{team.slug}/invitations/{invitation_id}/revoke/"


def test_it_works(client, alice, team, invitation):
    client.force_login(alice)
    assert client.post(url(team, invitation.pk)).status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None
    assert team.audit_events.filter(action="invitation.revoked").count() == 1
    assert not team.invitations.pending().exists()


def test_it_lets_an_admin_revoke(client, member_with_role, team, invitation):
    client.force_login(member_with_role(Role.ADMIN).user)
    client.post(url(team, invitation.pk))
    invitation.refresh_from_db()
    assert invitation.revoked_at is not None


def test_it_404s_for_a_bad_id(client, alice, team, invitation, user_factory):
    other = Account.objects.create_with_owner("Other", user_factory())
    elsewhere = Invitation.objects.create(account=other, email="x@example.com", role="developer")
    client.force_login(alice)
    assert client.post(url(team, 999999)).status_code == 404
    assert client.post(url(team, elsewhere.pk)).status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.revoked_at is None


def test_it_404s_for_an_outsider(client, charlie, team, invitation):
    client.force_login(charlie)
    assert client.post(url(team, invitation.pk)).status_code == 404
    invitation.refresh_from_db()
    assert invitation.revoked_at is None


def test_it_refuses_get(client, alice, team, invitation):
    client.force_login(alice)
    assert client.get(url(team, invitation.pk)).status_code == 405


def test_it_says_so_when_already_revoked(client, alice, team, invitation):
    client.force_login(alice)
    client.post(url(team, invitation.pk))
    response = client.post(url(team, invitation.pk), follow=True)
    assert "no longer pending" in response.content.decode()
    assert team.audit_events.filter(action="invitation.revoked").count() == 1
