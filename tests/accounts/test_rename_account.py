from __future__ import annotations

import pytest

from accounts.models import Account
from accounts.roles import Role

pytestmark = pytest.mark.django_db


def rename(client, account, name="Renamed"):
    return client.post(f"/a/{account.slug}/rename/", {"name": name})


def test_it_works(client, alice, team):
    client.force_login(alice)
    assert rename(client, team).status_code == 302
    assert Account.objects.get(pk=team.pk).name == "Renamed"
    event = team.audit_events.get(action="account.renamed")
    assert (event.actor, event.target, event.data) == (alice, "Renamed", {"from": "Alice's team"})


def test_a_second_owner_can(client, member_with_role, team):
    client.force_login(member_with_role(Role.OWNER).user)
    rename(client, team)
    assert Account.objects.get(pk=team.pk).name == "Renamed"


def test_an_admin_cannot(client, member_with_role, team):
    client.force_login(member_with_role(Role.ADMIN).user)
    assert rename(client, team).status_code == 403
    assert Account.objects.get(pk=team.pk).name == "Alice's team"


def test_it_404s_for_a_bad_account(client, alice):
    client.force_login(alice)
    assert client.post("/a/nope/rename/", {"name": "x"}).status_code == 404


def test_it_404s_for_an_outsider(client, charlie, team):
    client.force_login(charlie)
    assert rename(client, team).status_code == 404


def test_it_refuses_get(client, alice, team):
    client.force_login(alice)
    assert client.get(f"/a/{team.slug}/rename/").status_code == 405


def test_it_shows_errors_in_place(client, alice, team):
    client.force_login(alice)
    response = rename(client, team, name="")
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert Account.objects.get(pk=team.pk).name == "Alice's team"
