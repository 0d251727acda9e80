from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from apikeys import keys, records
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


def url(team, key_id):
    return f"/a/{team.slug}/keys/{key_id}/rotate/"


def raw_key_in(response) -> str:
    match = keys.key_pattern("tg").search(response.content.decode())
    assert match is not None
    return match.group(0)


def test_it_rotates_with_the_chosen_grace_window_and_shows_both(client, alice, team, issue_key):
    old, old_raw = issue_key(name="Server")
    client.force_login(alice)
    response = client.post(url(team, old.public_id), {"grace": "24h"})
    assert response.status_code == 200
    new_raw = raw_key_in(response)
    old.refresh_from_db()
    new = ApiKey.objects.get(key_hash=keys.hash_key(new_raw))
    assert old.replaced_by == new
    assert old.revoked_at is None
    left = old.grace_ends_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < left <= timedelta(hours=24)
    assert new.name == "Server" and new.created_by == alice
    assert records.lookup(old_raw).status == "active"
    assert records.lookup(new_raw).status == "active"
    page = response.content.decode()
    assert old.masked in page and new.masked in page
    assert "works for 23" in page  # time left on the old key
    assert AuditEvent.objects.filter(action="key.rotated", target=old.public_id).exists()


def test_no_grace_stops_the_old_key_at_once(client, alice, team, issue_key):
    old, _old_raw = issue_key()
    client.force_login(alice)
    client.post(url(team, old.public_id), {"grace": "none"})
    old.refresh_from_db()
    assert old.revoked_at is not None
    assert not old.is_usable()


def test_it_keeps_the_restrictions(alice, team, issue_key):
    old, _ = issue_key(restrictions={"allowed_methods": ["GET"], "allowed_ips": ["10.0.0.0/8"]})
    new, _ = old.rotate(timedelta(hours=1), actor=alice)
    assert new.allowed_methods == ["GET"] and new.allowed_ips == ["10.0.0.0/8"]


def test_a_developer_in_the_team_can(client, bob, team, issue_key):
    old, _ = issue_key()
    client.force_login(bob)
    assert client.post(url(team, old.public_id), {"grace": "1h"}).status_code == 200
    assert ApiKey.objects.get(pk=old.pk).replaced_by.created_by == bob


def test_a_bad_id_404s(client, alice, team):
    client.force_login(alice)
    assert client.post(url(team, "key_doesnotexist"), {"grace": "1h"}).status_code == 404


def test_a_key_of_another_account_404s(client, alice, team, charlie, issue_key):
    theirs, _ = issue_key(account=charlie.memberships.get().account, created_by=charlie)
    client.force_login(alice)
    assert client.post(url(team, theirs.public_id), {"grace": "1h"}).status_code == 404


def test_an_outsider_gets_404(client, charlie, team, issue_key):
    old, _ = issue_key()
    client.force_login(charlie)
    assert client.post(url(team, old.public_id), {"grace": "1h"}).status_code == 404
    assert ApiKey.objects.count() == 1


def test_get_is_refused(client, alice, team, issue_key):
    old, _ = issue_key()
    client.force_login(alice)
    assert client.get(url(team, old.public_id)).status_code == 405


def test_a_double_click_mints_only_one_successor(client, alice, team, issue_key):
    old, _ = issue_key()
    client.force_login(alice)
    assert client.post(url(team, old.public_id), {"grace": "1h"}).status_code == 200
    second = client.post(url(team, old.public_id), {"grace": "1h"})
    assert second.status_code == 409
    assert "already" in second.content.decode()
    assert ApiKey.objects.count() == 2


def test_an_unknown_grace_window_is_refused(client, alice, team, issue_key):
    old, _ = issue_key()
    client.force_login(alice)
    assert client.post(url(team, old.public_id), {"grace": "forever"}).status_code == 400
    assert ApiKey.objects.count() == 1


def test_rotation_works_at_the_key_cap(alice, team, issue_key):
    first, _ = issue_key()
    issue_key()
    new, _ = first.rotate(timedelta(days=7), actor=alice)
    assert new.is_usable()
