from __future__ import annotations

import pytest

from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, user_factory):
    client.force_login(user_factory(is_staff=True, is_superuser=True))
    return client


def test_the_admin_lists_keys_without_their_hash(admin_client, issue_key):
    key, raw = issue_key()
    listing = admin_client.get("/admin/apikeys/apikey/").content.decode()
    assert key.public_id in listing
    detail = admin_client.get(f"/admin/apikeys/apikey/{key.pk}/change/").content.decode()
    assert key.key_hash not in detail and raw not in detail


def test_the_admin_cannot_add_keys_without_showing_them_once(admin_client):
    assert admin_client.get("/admin/apikeys/apikey/add/").status_code == 403


def test_the_admin_revokes_selected_keys(admin_client, issue_key):
    first, _ = issue_key()
    second, _ = issue_key(environment="test")
    response = admin_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    assert "Revoked 2 key(s)." in response.content.decode()
    assert ApiKey.objects.filter(revoked_at__isnull=False).count() == 2
