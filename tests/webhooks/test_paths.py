"""Only a well-formed endpoint id reaches a view: a NUL byte in the path (which PostgreSQL
refuses in a query) is an unknown page, not a 500."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("suffix", ["", "test/", "deliveries/", "deliveries/1/resend/"])
def test_a_nul_in_the_endpoint_id_is_not_found(client, api, alice, team, suffix):
    client.force_login(alice)
    api.force_login(alice)
    endpoint_id = "we_%00"

    page = client.get(f"/a/{team.slug}/webhooks/{endpoint_id}/{suffix}")
    answer = api.get(f"/api/v1/accounts/{team.slug}/webhooks/{endpoint_id}/{suffix}")

    assert page.status_code == 404
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
