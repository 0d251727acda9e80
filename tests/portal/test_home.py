from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_it_renders_for_visitors(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Create a free account" in page
    assert "/static/css/site.css" in page


def test_it_renders_for_people_signed_in(client, alice):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "alice@example.com" in page
    assert "Log out" in page


def test_it_sends_a_content_security_policy_without_inline_script(client):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "<script>" not in response.content.decode()


def test_every_new_user_gets_a_personal_account_they_own(alice):
    account = alice.memberships.get().account
    assert account.is_personal
    assert list(account.owners()) == [alice]
