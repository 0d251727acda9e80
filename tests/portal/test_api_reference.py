from __future__ import annotations

import re

import pytest
import yaml
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_openapi(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    spec = yaml.safe_load(response.content)
    validate(spec)
    assert spec["info"]["title"] == "Tollgate portal API"


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_the_reference_pages_load_everything_from_this_site(client, url):
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    assert all(not s.startswith(("http:", "https:", "//")) for s in sources), sources
    assert not re.search(r"<script>|<script [^>]*>[^<]", page), "inline script breaks the CSP"
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy


def test_the_swagger_init_script_is_served_as_a_file(client):
    response = client.get("/api/docs/?script=")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in response.content.decode()


def test_the_schema_generates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


# --- every operation documents itself: examples and errors -----------------------------------
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def spec(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def operations(spec):
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def examples_of(body) -> dict:
    return {
        name: example
        for media in (body or {}).get("content", {}).values()
        for name, example in media.get("examples", {}).items()
    }


def test_the_schema_lists_every_api_endpoint(spec):
    names = {name for name, _ in operations(spec)}
    assert len(names) == 26
    for expected in [
        "GET /api/v1/accounts/",
        "PATCH /api/v1/accounts/{account_slug}/",
        "GET /api/v1/accounts/{account_slug}/members/",
        "GET /api/v1/accounts/{account_slug}/invoices/",
        "GET /api/v1/accounts/{account_slug}/invoices/upcoming/",
        "POST /api/v1/tokens/",
        "POST /api/v1/tokens/{token_id}/revoke/",
    ]:
        assert expected in names


def test_every_operation_has_a_success_example(spec):
    missing = [
        name
        for name, operation in operations(spec)
        if not any(
            examples_of(response)
            for status, response in operation["responses"].items()
            if status.startswith("2")
        )
    ]
    assert not missing


def test_every_operation_documents_its_errors_with_examples(spec):
    for name, operation in operations(spec):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert "401" in errors, f"{name} does not say it needs credentials"
        for status, response in errors.items():
            [media] = response["content"].values()
            assert media["schema"] == {"$ref": "#/components/schemas/ApiError"}, (name, status)
            assert response["description"], (name, status)
            assert examples_of(response), f"{name} {status} has no example"


def test_a_request_body_comes_with_an_example(spec):
    for name, operation in operations(spec):
        if "requestBody" in operation:
            assert examples_of(operation["requestBody"]), name


def test_every_example_fits_its_schema(spec):
    """An example that contradicts the schema misleads worse than none."""
    from openapi_schema_validator import (
        OAS30ReadValidator,
        OAS30WriteValidator,
        oas30_format_checker,
    )

    checked = 0
    for name, operation in operations(spec):
        bodies = [("request", OAS30WriteValidator, operation.get("requestBody"))]
        bodies += [(s, OAS30ReadValidator, r) for s, r in operation["responses"].items()]
        for where, validator, body in bodies:
            for media in (body or {}).get("content", {}).values():
                schema = {**media["schema"], "components": spec["components"]}
                for example_name, example in media.get("examples", {}).items():
                    errors = list(
                        validator(schema, format_checker=oas30_format_checker).iter_errors(
                            example["value"]
                        )
                    )
                    assert not errors, (name, where, example_name, errors[0].message)
                    checked += 1
    assert checked > 60


# --- paths no endpoint takes ------------------------------------------------------------------
@pytest.mark.parametrize("method", ["get", "post", "delete"])
def test_an_unknown_api_path_gets_a_json_404(client, method):
    response = getattr(client, method)("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "detail": "No such endpoint; the reference is at /api/docs/.",
    }


def test_a_missing_slash_is_named_not_redirected(client, alice):
    client.force_login(alice)
    response = client.post("/api/v1/tokens", {"name": "CI"})
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "No such endpoint; did you mean /api/v1/tokens/ (with the slash)?"
    )
    assert client.get("/api/v1/tokens/").status_code == 200
