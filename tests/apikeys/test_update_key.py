from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from apikeys import records

pytestmark = pytest.mark.django_db


def url(team, key_id):
    return f"/a/{team.slug}/keys/{key_id}/edit/"


FORM = {"name": "Renamed", "allowed_methods": ["GET"], "allowed_path_prefixes": "/v1/",
        "allowed_ips": "198.51.100.0/24"}  # fmt: skip


def test_it_saves_name_and_restrictions_and_the_gateway_sees_them(
    client, alice, team, issue_key, django_capture_on_commit_callbacks
):
    key, raw = issue_key()
    assert records.lookup(raw).allowed_methods == ()
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(team, key.public_id), FORM)
    assert response.status_code == 200
    key.refresh_from_db()
    assert key.name == "Renamed"
    assert key.allowed_methods == ["GET"]
    assert key.allowed_path_prefixes == ["/v1/"]
    assert key.allowed_ips == ["198.51.100.0/24"]
    assert records.lookup(raw).allowed_methods == ("GET",)
    assert AuditEvent.objects.get(action="key.updated").data["name"] == "Renamed"


def test_bad_restrictions_change_nothing(client, alice, team, issue_key):
    key, _ = issue_key()
    client.force_login(alice)
    response = client.post(url(team, key.public_id), {**FORM, "allowed_ips": "300.1.1.1"})
    assert response.status_code == 400
    assert "is not an IP address" in response.content.decode()
    key.refresh_from_db()
    assert key.name == "Server" and key.allowed_ips == []


def test_a_developer_in_the_team_can(client, bob, team, issue_key):
    key, _ = issue_key()
    client.force_login(bob)
    assert client.post(url(team, key.public_id), FORM).status_code == 200
    key.refresh_from_db()
    assert key.name == "Renamed"


def test_a_bad_id_404s(client, alice, team):
    client.force_login(alice)
    assert client.post(url(team, "key_nope"), FORM).status_code == 404


def test_an_outsider_gets_404(client, charlie, team, issue_key):
    key, _ = issue_key()
    client.force_login(charlie)
    assert client.post(url(team, key.public_id), FORM).status_code == 404
    key.refresh_from_db()
    assert key.name == "Server"


def test_get_is_refused(client, alice, team, issue_key):
    key, _ = issue_key()
    client.force_login(alice)
    assert client.get(url(team, key.public_id)).status_code == 405


def test_a_revoked_key_cannot_be_edited(client, alice, team, issue_key):
    key, _ = issue_key()
    key.revoke()
    client.force_login(alice)
    response = client.post(url(team, key.public_id), FORM)
    assert response.status_code == 409
    key.refresh_from_db()
    assert key.name == "Server"
