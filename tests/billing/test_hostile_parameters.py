"""A value PostgreSQL cannot look up (a NUL byte, an endless string) in a billing page's query
or form is a readable 400, never a 500 from the database."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

HOSTILE = ["plan\x00", "a" * 5000]


@pytest.mark.parametrize("value", HOSTILE, ids=["nul", "overlong"])
@pytest.mark.parametrize("page", ["checkout", "plan"])
def test_a_plan_that_cannot_be_one_is_a_400(client, alice, team, page, value):
    client.force_login(alice)

    response = client.post(f"/a/{team.slug}/billing/{page}/", {"plan": value, "interval": value})

    assert response.status_code == 400
    assert b"could not be understood" in response.content


@pytest.mark.parametrize("value", HOSTILE, ids=["nul", "overlong"])
def test_a_checkout_session_id_that_cannot_be_one_is_a_400(client, alice, team, value):
    client.force_login(alice)

    response = client.get(f"/a/{team.slug}/billing/success/", {"session_id": value})

    assert response.status_code == 400
