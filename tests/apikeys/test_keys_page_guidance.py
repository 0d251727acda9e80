"""The keys page: restrictions wait behind "Restrict this key", and a new key comes with a
ready request that has it filled in."""

from __future__ import annotations

import re

import pytest

from tests.gateway.support import make_plan, make_product

pytestmark = pytest.mark.django_db


def test_restrictions_are_collapsed_until_asked_for(client, alice, team):
    client.force_login(alice)
    page = client.get(f"/a/{team.slug}/keys/").content.decode()
    restrict = re.search(r'<details class="restrict"( open)?>(.*?)</details>', page, re.S)
    assert restrict and restrict.group(1) is None
    assert "<summary>Restrict this key</summary>" in restrict.group(2)
    assert 'name="allowed_ips"' in restrict.group(2) and 'name="name"' not in restrict.group(2)

    # A mistake in a restriction opens them again, beside its error.
    response = client.post(
        f"/a/{team.slug}/keys/new/", {"name": "x", "environment": "live", "allowed_ips": "nope"}
    )
    assert response.status_code == 400
    assert '<details class="restrict" open>' in response.content.decode()


def test_a_new_key_comes_with_a_ready_request(client, alice, team):
    team.plan = make_plan("free", [make_product()], is_default=True)
    team.save()
    client.force_login(alice)
    response = client.post(f"/a/{team.slug}/keys/new/", {"name": "CI", "environment": "test"})
    page = response.content.decode()
    raw = re.search(r'data-testid="raw-key">([^<]+)<', page).group(1)
    ready = re.search(r'data-testid="ready-request">([^<]+)<', page).group(1)
    assert f"Authorization: Bearer {raw}" in ready and "/demo/hello" in ready
    # Shown in this one answer only: the page afterwards has neither.
    assert raw not in client.get(f"/a/{team.slug}/keys/").content.decode()
