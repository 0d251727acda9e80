from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from apikeys import records

pytestmark = pytest.mark.django_db


def url(team, key_id):
    return f"/a/{team.slug}/keys/{key_id}/revoke/"


def test_it_revokes_at_once(client, alice, team, issue_key, django_capture_on_commit_callbacks):
    key, raw = issue_key(name="Old laptop")
    assert records.lookup(raw).status == "active"
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url(team, key.public_id), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "is revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert records.lookup(raw).status == "revoked"
    event = AuditEvent.objects.get(action="key.revoked")
    assert event.actor == alice and event.target == key.public_id


def test_the_page_asks_for_confirmation_first(client, alice, team, issue_key):
    _key, _ = issue_key()
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/keys/").content.decode()
    assert 'hx-confirm="Revoke' in page


def test_a_developer_in_the_team_can(client, bob, team, issue_key):
    key, _ = issue_key()
    client.force_login(bob)
    assert client.post(url(team, key.public_id)).status_code == 200
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_a_bad_id_404s(client, alice, team):
    client.force_login(alice)
    assert client.post(url(team, "key_nope")).status_code == 404


def test_an_outsider_gets_404(client, charlie, team, issue_key):
    key, _ = issue_key()
    client.force_login(charlie)
    assert client.post(url(team, key.public_id)).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None


def test_get_is_refused(client, alice, team, issue_key):
    key, _ = issue_key()
    client.force_login(alice)
    assert client.get(url(team, key.public_id)).status_code == 405


def test_revoking_twice_is_harmless(client, alice, team, issue_key):
    key, _ = issue_key()
    client.force_login(alice)
    client.post(url(team, key.public_id))
    first = type(key).objects.get(pk=key.pk).revoked_at
    assert client.post(url(team, key.public_id)).status_code == 200
    assert type(key).objects.get(pk=key.pk).revoked_at == first
    assert AuditEvent.objects.filter(action="key.revoked").count() == 1
