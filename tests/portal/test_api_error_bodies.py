"""Whatever goes wrong under /api/, the answer is the API's JSON error, never an HTML page."""

from __future__ import annotations

import io

import pytest

from gateway import demo_api

pytestmark = pytest.mark.django_db

TOO_DEEP = b"[" * 2000 + b"]" * 2000


def test_json_nested_too_deeply_is_a_parse_error(api, alice, team):
    api.force_login(alice)

    created = api.generic("POST", "/api/v1/keys/", TOO_DEEP, content_type="application/json")
    renamed = api.generic(
        "PATCH",
        f"/api/v1/accounts/{team.slug}/",
        b'{"name":' + TOO_DEEP + b"}",
        content_type="application/json",
    )

    for response in (created, renamed):
        assert response.status_code == 400
        assert response.json() == {
            "code": "parse_error",
            "detail": "JSON parse error - nested too deeply.",
        }


def test_the_demo_api_answers_json_nested_too_deeply_with_400():
    environ = {"CONTENT_LENGTH": str(len(TOO_DEEP)), "wsgi.input": io.BytesIO(TOO_DEEP)}
    statuses: list[str] = []

    demo_api.echo(environ, lambda status, headers: statuses.append(status))

    assert statuses == ["400 Bad Request"]
