"""Whatever goes wrong under /api/, the answer is the API's JSON error, never an HTML page."""

from __future__ import annotations

import io

import pytest

from gateway import demo_api
from usage import reports

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


def test_a_body_over_the_upload_limit_is_a_json_413(api, alice, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    api.raise_request_exception = False
    api.force_login(alice)

    response = api.post("/api/v1/keys/", {"name": "a" * 5000}, format="json")

    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_a_form_over_the_upload_limit_on_a_page_is_still_the_html_400(
    client, alice, team, settings
):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.raise_request_exception = False
    client.force_login(alice)

    response = client.post(f"/a/{team.slug}/rename/", {"name": "a" * 5000})

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.fixture
def broken_glance(monkeypatch):
    """The usage glance, which both the API and the usage page read, raising a bug."""

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reports, "glance", broken)


@pytest.mark.usefixtures("broken_glance")
def test_an_unexpected_error_under_api_is_a_json_500(api, alice, team):
    api.raise_request_exception = False
    api.force_login(alice)

    response = api.get(f"/api/v1/usage/{team.slug}/glance/")

    assert response.status_code == 500
    assert response.json()["code"] == "server_error"
    assert "a bug" not in response.content.decode()


@pytest.mark.usefixtures("broken_glance")
def test_an_unexpected_error_on_a_page_is_still_the_html_500(client, alice, team):
    client.raise_request_exception = False
    client.force_login(alice)

    response = client.get(f"/a/{team.slug}/usage/")

    assert response.status_code == 500
    assert b"Something went wrong on our side" in response.content
