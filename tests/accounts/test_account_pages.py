from __future__ import annotations

import pytest

from accounts.models import Account
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def test_the_overview_shows_name_plan_role_and_members(client, alice, bob, team):
    client.force_login(bob)
    page = client.get(f"/a/{team.slug}/").content.decode()
    assert "Alice&#x27;s team" in page and "Developer" in page
    assert "alice@example.com" in page and "bob@example.com" in page
    assert "Free" in page
    assert "Leave this account" in page
    assert "Close the account" not in page


def test_an_owner_sees_the_close_form(client, alice, team):
    client.force_login(alice)
    assert "Close the account" in client.get(f"/a/{team.slug}/").content.decode()


def test_it_404s_for_an_outsider_and_asks_visitors_to_log_in(client, charlie, team):
    client.force_login(charlie)
    assert client.get(f"/a/{team.slug}/").status_code == 404
    assert client.get(f"/a/{team.slug}/members/").status_code == 404
    client.logout()
    response = client.get(f"/a/{team.slug}/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_a_developer_sees_members_but_no_controls(client, bob, team):
    client.force_login(bob)
    page = client.get(f"/a/{team.slug}/members/").content.decode()
    assert "alice@example.com" in page
    assert "Send invitation" not in page and "Remove" not in page


def test_an_admin_sees_invite_and_pending_invitations(client, member_with_role, team):
    admin = member_with_role(Role.ADMIN)
    team.invite("dana@example.com", Role.BILLING, by=admin)
    client.force_login(admin.user)
    page = client.get(f"/a/{team.slug}/members/").content.decode()
    assert "Send invitation" in page and "dana@example.com" in page and "Revoke" in page
    assert '<option value="owner"' not in page  # an admin cannot grant ownership


def test_the_navigation_switches_between_accounts(client, alice, team):
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/").content.decode()
    personal = Account.objects.get(memberships__user=alice, is_personal=True)
    assert f'href="/a/{personal.slug}/"' in page and f'href="/a/{team.slug}/"' in page
    assert f'href="/a/{team.slug}/members/"' in page


def test_creating_a_team_makes_you_its_owner(client, charlie):
    client.force_login(charlie)
    assert client.get("/teams/new/").status_code == 200
    response = client.post("/teams/new/", {"name": "Charlie & Co"})
    team = Account.objects.get(name="Charlie & Co")
    assert response.url == f"/a/{team.slug}/members/"
    assert list(team.owners()) == [charlie] and not team.is_personal
    assert team.audit_events.filter(action="account.created").exists()


def test_a_team_needs_a_name(client, charlie):
    client.force_login(charlie)
    response = client.post("/teams/new/", {"name": "  "})
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Account.objects.filter(is_personal=False).count() == 0


def test_creating_a_team_needs_a_login(client):
    assert client.get("/teams/new/").status_code == 302
