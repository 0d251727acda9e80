from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from apikeys import keys
from apikeys.models import PersonalAccessToken

pytestmark = pytest.mark.django_db


def test_it_lists_the_persons_tokens(client, alice, charlie):
    PersonalAccessToken.objects.issue(alice, name="deploy script")
    PersonalAccessToken.objects.issue(charlie, name="charlie's")
    client.force_login(alice)
    page = client.get("/profile/tokens/").content.decode()
    assert "deploy script" in page and "charlie's" not in page


def test_visitors_are_sent_to_log_in(client):
    assert client.get("/profile/tokens/").status_code == 302


def test_create_works_and_shows_the_token_once(client, alice):
    client.force_login(alice)
    response = client.post("/profile/tokens/new/", {"name": "CI", "expires_in_days": "30"})
    assert response.status_code == 200
    raw = keys.token_pattern("tg").search(response.content.decode()).group(0)
    token = PersonalAccessToken.objects.get(user=alice)
    assert token.token_hash == keys.hash_key(raw)
    assert token.expires_at is not None
    assert raw not in client.get("/profile/tokens/").content.decode()
    assert AuditEvent.objects.filter(action="token.created", actor=alice).exists()


def test_create_answers_htmx_with_the_panel(client, alice):
    client.force_login(alice)
    response = client.post(
        "/profile/tokens/new/", {"name": "CI", "expires_in_days": "0"}, HTTP_HX_REQUEST="true"
    )
    assert 'id="token-panel"' in response.content.decode()
    assert PersonalAccessToken.objects.get().expires_at is None


def test_create_with_bad_input_changes_nothing(client, alice):
    client.force_login(alice)
    response = client.post("/profile/tokens/new/", {"name": "", "expires_in_days": "9"})
    assert response.status_code == 400
    assert not PersonalAccessToken.objects.exists()


def test_create_refuses_get(client, alice):
    client.force_login(alice)
    assert client.get("/profile/tokens/new/").status_code == 405


def test_revoke_works(client, alice):
    token, _ = PersonalAccessToken.objects.issue(alice, name="old")
    client.force_login(alice)
    assert client.post(f"/profile/tokens/{token.public_id}/revoke/").status_code == 200
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoked", target=token.public_id).exists()


def test_revoke_a_bad_id_404s(client, alice):
    client.force_login(alice)
    assert client.post("/profile/tokens/pat_nope/revoke/").status_code == 404


def test_revoke_someone_elses_token_404s(client, alice, charlie):
    token, _ = PersonalAccessToken.objects.issue(alice, name="alice's")
    client.force_login(charlie)
    assert client.post(f"/profile/tokens/{token.public_id}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_revoke_refuses_get(client, alice):
    token, _ = PersonalAccessToken.objects.issue(alice, name="x")
    client.force_login(alice)
    assert client.get(f"/profile/tokens/{token.public_id}/revoke/").status_code == 405


def test_tokens_are_personal_so_a_teammate_cannot_revoke_them(client, alice, bob):
    token, _ = PersonalAccessToken.objects.issue(alice, name="alice's")
    client.force_login(bob)
    assert client.post(f"/profile/tokens/{token.public_id}/revoke/").status_code == 404
