from __future__ import annotations

import pytest

from accounts.audit import record
from accounts.models import Account, AuditEvent, Membership, User
from accounts.roles import Role
from accounts.signals import account_closed

pytestmark = pytest.mark.django_db


def test_it_links_the_security_pages(client, alice):
    client.force_login(alice)
    page = client.get("/profile/").content.decode()
    for url in ("/accounts/email/", "/accounts/password/change/", "/accounts/2fa/"):
        assert url in page
    assert "Delete my profile" in page


def test_it_saves_the_name(client, alice):
    client.force_login(alice)
    response = client.post("/profile/", {"first_name": "Alicia", "last_name": "Liddell"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.get_full_name() == "Alicia Liddell"


def test_it_shows_name_errors_in_place(client, alice):
    client.force_login(alice)
    response = client.post("/profile/", {"first_name": "x" * 200})
    assert response.status_code == 400
    assert "Ensure this value has at most 150 characters" in response.content.decode()


def test_it_needs_a_login(client):
    assert client.get("/profile/").status_code == 302
    assert client.post("/profile/delete/", {"confirm": "x"}).status_code == 302


def delete(client, user, confirm=None):
    return client.post("/profile/delete/", {"confirm": confirm or user.email})


def test_deleting_asks_to_sign_in_again_first(client, alice):
    client.force_login(alice)
    response = delete(client, alice)
    assert response.status_code == 302
    assert response.url.startswith("/accounts/reauthenticate/?next=")
    assert User.objects.filter(pk=alice.pk).exists()
    # allauth keeps the refused request and replays it once the password is given again.
    response = client.post(response.url, {"password": "password", "next": "/profile/delete/"})
    assert response.status_code == 302 and response.url == "/"
    assert not User.objects.filter(pk=alice.pk).exists()


def test_the_confirmation_page_opens_without_reauthenticating(client, alice):
    client.force_login(alice)
    assert "Delete my profile" in client.get("/profile/delete/").content.decode()


@pytest.fixture
def closed_accounts():
    heard = []
    account_closed.connect(lambda sender, account, **kw: heard.append(account.pk),
                           dispatch_uid="test-profile-close", weak=False)  # fmt: skip
    yield heard
    account_closed.disconnect(dispatch_uid="test-profile-close")


def test_deleting_works(client, sign_in, alice, bob, team, closed_accounts):
    bobs_personal = Account.objects.get(memberships__user=bob, is_personal=True)
    record(team, "member.invited", actor=alice, target="bob@example.com")
    sign_in(bob)
    assert delete(client, bob).status_code == 302
    assert not User.objects.filter(email="bob@example.com").exists()
    assert not Membership.objects.filter(account=team, user__email="bob@example.com").exists()
    assert closed_accounts == [bobs_personal.pk]
    assert Account.objects.get(pk=bobs_personal.pk).closed_at is not None
    assert team.closed_at is None
    assert not AuditEvent.objects.filter(target__icontains="bob@").exists()
    assert team.audit_events.filter(action="member.deleted_profile").exists()
    assert "_auth_user_id" not in client.session


def test_the_last_owner_of_a_shared_account_cannot_delete(
    client, sign_in, alice, bob, team, closed_accounts
):
    sign_in(alice)
    response = delete(client, alice)
    assert response.status_code == 400
    assert "last owner of Alice&#x27;s team" in response.content.decode()
    assert User.objects.filter(pk=alice.pk).exists()
    assert closed_accounts == []


def test_an_owner_with_a_co_owner_can_delete(client, sign_in, alice, member_with_role, team):
    member_with_role(Role.OWNER)
    sign_in(alice)
    assert delete(client, alice).status_code == 302
    assert Account.objects.get(pk=team.pk).closed_at is None


def test_it_wants_the_email_typed(client, sign_in, alice):
    sign_in(alice)
    response = delete(client, alice, confirm="someone@else.com")
    assert response.status_code == 400
    assert "not your email address" in response.content.decode()
    assert User.objects.filter(pk=alice.pk).exists()


def test_deleting_refuses_other_methods(client, sign_in, alice):
    sign_in(alice)
    assert client.put("/profile/delete/").status_code == 405
