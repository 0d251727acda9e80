from __future__ import annotations

import pytest

from accounts.models import Account, Invitation
from accounts.roles import Role
from accounts.signals import account_closed

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_accounts():
    """What the apikeys and billing receivers would hear."""
    heard = []

    def receiver(sender, account, **kwargs):
        heard.append(account.pk)

    account_closed.connect(receiver, dispatch_uid="test-close")
    yield heard
    account_closed.disconnect(dispatch_uid="test-close")


def close(client, account, confirm=None):
    return client.post(f"/a/{account.slug}/close/", {"confirm": confirm or account.name})


def test_it_asks_to_sign_in_again_first(client, alice, team, closed_accounts):
    client.force_login(alice)
    response = close(client, team)
    assert response.url.startswith("/accounts/reauthenticate/")
    assert closed_accounts == []
    response = client.post(response.url, {"password": "password", "next": f"/a/{team.slug}/close/"})
    assert response.url == "/" and closed_accounts == [team.pk]


def test_it_works(client, sign_in, alice, bob, team, closed_accounts):
    Invitation.objects.create(account=team, email="dana@example.com", role=Role.DEVELOPER)
    sign_in(alice)
    assert close(client, team).status_code == 302
    team.refresh_from_db()
    assert team.closed_at is not None
    assert closed_accounts == [team.pk]
    assert not team.invitations.pending().exists()
    assert team.audit_events.filter(action="account.closed").count() == 1
    assert client.get(f"/a/{team.slug}/").status_code == 404
    sign_in(bob)
    assert client.get(f"/a/{team.slug}/members/").status_code == 404


def test_a_second_owner_can_close(client, sign_in, member_with_role, team, closed_accounts):
    sign_in(member_with_role(Role.OWNER).user)
    close(client, team)
    assert closed_accounts == [team.pk]


def test_an_admin_cannot(client, sign_in, member_with_role, team, closed_accounts):
    sign_in(member_with_role(Role.ADMIN).user)
    assert close(client, team).status_code == 403
    assert closed_accounts == []


def test_it_404s_for_a_bad_account(client, sign_in, alice):
    sign_in(alice)
    assert client.post("/a/nope/close/", {"confirm": "nope"}).status_code == 404


def test_it_404s_for_an_outsider(client, sign_in, charlie, team, closed_accounts):
    sign_in(charlie)
    assert close(client, team).status_code == 404
    assert closed_accounts == []


def test_it_refuses_get(client, sign_in, alice, team):
    sign_in(alice)
    assert client.get(f"/a/{team.slug}/close/").status_code == 405


def test_it_wants_the_name_typed(client, sign_in, alice, team, closed_accounts):
    sign_in(alice)
    response = close(client, team, confirm="yes")
    assert response.status_code == 400
    assert "exactly to close it" in response.content.decode()
    assert Account.objects.get(pk=team.pk).closed_at is None


def test_a_personal_account_closes_only_with_its_person(client, sign_in, alice, closed_accounts):
    personal = Account.objects.get(memberships__user=alice, is_personal=True)
    sign_in(alice)
    response = close(client, personal)
    assert response.status_code == 400
    assert "delete your profile" in response.content.decode()
    assert closed_accounts == []


def test_a_receiver_failing_rolls_the_close_back(client, sign_in, alice, team):
    def broken(sender, account, **kwargs):
        raise RuntimeError("billing seam down")

    account_closed.connect(broken, dispatch_uid="test-broken")
    client.raise_request_exception = False
    try:
        sign_in(alice)
        assert close(client, team).status_code == 500
    finally:
        account_closed.disconnect(dispatch_uid="test-broken")
    team.refresh_from_db()
    assert team.closed_at is None
    assert not team.audit_events.filter(action="account.closed").exists()
