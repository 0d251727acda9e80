from __future__ import annotations

import pytest

from accounts.models import Membership

pytestmark = pytest.mark.django_db


def leave(client, team):
    return client.post(f"/a/{team.slug}/leave/")


def test_it_works(client, bob, team):
    client.force_login(bob)
    assert leave(client, team).status_code == 302
    assert not Membership.objects.filter(account=team, user=bob).exists()
    event = team.audit_events.get(action="member.left")
    assert (event.actor, event.target) == (bob, "bob@example.com")
    assert client.get(f"/a/{team.slug}/").status_code == 404


def test_the_last_owner_cannot_leave(client, alice, bob, team):
    client.force_login(alice)
    response = leave(client, team)
    assert "transfer ownership" in client.get(response.url).content.decode()
    assert list(team.owners()) == [alice]


def test_it_404s_for_a_bad_account(client, bob):
    client.force_login(bob)
    assert client.post("/a/no-such-team/leave/").status_code == 404


def test_it_404s_for_an_outsider(client, charlie, team):
    client.force_login(charlie)
    assert leave(client, team).status_code == 404


def test_get_asks_first_and_changes_nothing(client, bob, team):
    client.force_login(bob)
    response = client.get(f"/a/{team.slug}/leave/")
    assert response.status_code == 200
    assert "Leave Alice&#x27;s team?" in response.content.decode()
    assert Membership.objects.filter(account=team, user=bob).exists()
    assert not team.audit_events.filter(action="member.left").exists()


def test_the_last_owner_is_told_before_confirming(client, alice, team):
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/leave/").content.decode()
    assert "transfer ownership before leaving it" in page
    assert '<form method="post" action="/a/' not in page
