from __future__ import annotations

import pytest

from accounts.audit import record
from accounts.roles import Role
from accounts.views import ACTIVITY_PAGE_SIZE

pytestmark = pytest.mark.django_db


def test_it_shows_the_log_to_an_owner(client, alice, team):
    record(team, "key.revoked", actor=alice, target="Production key")
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/activity/").content.decode()
    assert "key.revoked" in page and "Production key" in page and "alice@example.com" in page


def test_it_shows_the_log_to_an_admin(client, member_with_role, team):
    record(team, "plan.changed", target="Pro")
    client.force_login(member_with_role(Role.ADMIN).user)
    assert "plan.changed" in client.get(f"/a/{team.slug}/activity/").content.decode()


def test_it_refuses_a_developer(client, bob, team):
    client.force_login(bob)
    assert client.get(f"/a/{team.slug}/activity/").status_code == 403


def test_it_404s_for_an_outsider(client, charlie, team):
    client.force_login(charlie)
    assert client.get(f"/a/{team.slug}/activity/").status_code == 404


def test_it_never_shows_another_accounts_events(client, alice, team, charlie):
    record(charlie.memberships.get().account, "key.issued", target="Charlie's secret key")
    client.force_login(alice)
    assert "Charlie" not in client.get(f"/a/{team.slug}/activity/").content.decode()


def test_it_filters_by_action(client, alice, team):
    record(team, "key.revoked", target="first-target")
    record(team, "plan.changed", target="second-target")
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/activity/?action=plan.changed").content.decode()
    assert "second-target" in page and "first-target" not in page


def test_an_unknown_filter_shows_everything(client, alice, team):
    record(team, "key.revoked", target="first-target")
    client.force_login(alice)
    response = client.get(f"/a/{team.slug}/activity/?action=<script>&page=zebra")
    assert response.status_code == 200
    assert "first-target" in response.content.decode()


def test_it_paginates(client, alice, team):
    for number in range(ACTIVITY_PAGE_SIZE + 5):
        record(team, "key.issued", target=f"key-{number:03}")
    client.force_login(alice)
    first = client.get(f"/a/{team.slug}/activity/?action=key.issued").content.decode()
    assert "key-054" in first and "key-004" not in first and "Page 1 of 2" in first
    assert "?action=key.issued&amp;page=2" in first
    second = client.get(f"/a/{team.slug}/activity/?action=key.issued&page=2").content.decode()
    assert "key-004" in second and "key-054" not in second


def test_htmx_gets_only_the_events(client, alice, team):
    record(team, "key.revoked", target="first-target")
    client.force_login(alice)
    response = client.get(f"/a/{team.slug}/activity/", headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="events">') and "first-target" in page
    assert "<html" not in page
