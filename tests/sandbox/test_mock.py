"""The mock server's answers from a spec: examples, schema-built data, validation, `Prefer`
(sandbox/mock.py). In process here; through nginx in tests/e2e/test_sandbox_routing.py."""

from __future__ import annotations

import anyio
import httpx
import pytest

from sandbox.mock import MockedProduct, as_openapi_30, build_app, example_from_schema, preferences

ORDERS = {
    "openapi": "3.1.0",
    "info": {"title": "Orders", "version": "1", "summary": "3.1 only"},
    "servers": [{"url": "https://api.example.com/orders"}],
    "security": [{"key": []}],
    "components": {"securitySchemes": {"key": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/orders": {
            "post": {
                "operationId": "createOrder",
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["sku", "quantity"],
                    "properties": {
                        "sku": {"type": "string", "minLength": 3},
                        "quantity": {"type": "integer", "exclusiveMinimum": 0},
                        "note": {"type": ["string", "null"]},
                    },
                }}}},
                "responses": {
                    "201": {"description": "made", "content": {"application/json": {
                        "examples": {
                            "small": {"value": {"id": "ord_1", "status": "pending"}},
                            "shipped": {"value": {"id": "ord_2", "status": "shipped"}},
                        }}}},
                    "409": {"description": "duplicate", "content": {"application/json": {
                        "schema": {"type": "object", "properties": {
                            "code": {"const": "duplicate"}, "at": {"type": "string",
                                                                    "format": "date-time"}}}}}},
                    "204": {"description": "never chosen first: 201 is the lowest success"},
                },
            },
            "get": {
                "parameters": [{"name": "limit", "in": "query",
                                "schema": {"type": "integer", "maximum": 100}}],
                "responses": {"200": {"description": "list", "content": {"application/json": {
                    "schema": {"type": "array", "items": {"type": "object", "properties": {
                        "id": {"type": "string", "examples": ["ord_9"]},
                        "total": {"type": "number", "minimum": 1.5},
                        "paid": {"type": "boolean"},
                    }}}}}}},
            },
        },
    },
}  # fmt: skip


class Client:
    """Calls an ASGI app in process, one event loop per call (httpx's own ASGI transport)."""

    def __init__(self, app) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
                return await client.request(method, path, **kwargs)

        return anyio.run(send)

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> httpx.Response:
        return self.request("POST", path, **kwargs)


@pytest.fixture
def client():
    broken = {"openapi": "3.0.3", "paths": {}}  # no info: not a spec connexion can serve
    products = [
        MockedProduct("orders", "/shop/", ORDERS),
        MockedProduct("broken", "/broken/", broken),
        MockedProduct("nested", "/shop/v2/", {
            "openapi": "3.0.3", "info": {"title": "v2", "version": "2"},
            "paths": {"/ping": {"get": {"responses": {"200": {"description": "ok", "content": {
                "text/plain": {"example": "pong"}}}}}}},
        }),
    ]  # fmt: skip
    return Client(build_app(products))


def test_it_answers_the_first_example_and_a_named_one_on_request(client):
    order = {"sku": "abc", "quantity": 1, "note": None}
    made = client.post("/shop/orders", json=order)
    assert (made.status_code, made.json()) == (201, {"id": "ord_1", "status": "pending"})
    shipped = client.post("/shop/orders", json=order, headers={"Prefer": "example=shipped"})
    assert shipped.json()["status"] == "shipped"


def test_it_builds_an_answer_from_the_schema_where_there_is_no_example(client):
    listed = client.get("/shop/orders", params={"limit": 5})
    assert listed.json() == [{"id": "ord_9", "total": 1.5, "paid": True}]
    duplicate = client.post(
        "/shop/orders", json={"sku": "abc", "quantity": 2}, headers={"Prefer": "code=409"}
    )
    assert duplicate.status_code == 409
    assert duplicate.json() == {"code": "duplicate", "at": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"sku": "abc"}, "'quantity' is a required property"),
        ({"sku": "ab", "quantity": 1}, "'ab' is too short"),
        ({"sku": "abc", "quantity": 0}, "0 is less than or equal to the minimum of 0"),
        ({"sku": "abc", "quantity": 1, "note": 5}, "5 is not of type 'string'"),
        ("not an object", "'not an object' is not of type 'object'"),
    ],
)
def test_it_refuses_what_the_spec_forbids_with_the_validation_message(client, body, message):
    refused = client.post("/shop/orders", json=body)
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert message in refused.json()["detail"]


def test_it_validates_parameters_too(client):
    refused = client.get("/shop/orders", params={"limit": 500})
    assert refused.status_code == 400
    assert "500 is greater than the maximum of 100" in refused.json()["detail"]


def test_an_undocumented_code_is_refused_by_name(client):
    answer = client.get("/shop/orders", headers={"Prefer": "code=500"})
    assert answer.status_code == 422
    assert answer.json()["detail"].endswith("(documented: 200).")


def test_the_spec_needs_no_key_and_unknown_paths_are_404(client):
    # The gateway has checked the key and strips it: the spec's security is not asked again.
    assert client.get("/shop/orders").status_code == 200
    assert client.get("/shop/nope").status_code == 404
    assert client.get("/elsewhere").status_code == 404


def test_a_spec_it_cannot_serve_leaves_the_other_products_answering(client):
    assert client.get("/broken/x").status_code == 404
    # A prefix inside another's reaches its own spec.
    assert client.get("/shop/v2/ping").text == "pong"


def test_preferences_are_read_as_rfc_7240_writes_them():
    assert preferences('code=404, example="big"') == {"code": "404", "example": "big"}
    assert preferences("respond-async; Code = 201") == {"code": "201"}
    assert preferences("") == {}


def test_a_3_1_spec_is_served_in_its_3_0_form():
    converted = as_openapi_30(ORDERS)
    assert converted["openapi"] == "3.0.3" and "summary" not in converted["info"]
    schema = converted["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]
    properties = schema["schema"]["properties"]
    assert properties["note"] == {"type": "string", "nullable": True}
    assert properties["quantity"] == {"type": "integer", "minimum": 0, "exclusiveMinimum": True}
    assert ORDERS["openapi"] == "3.1.0"  # the product's own spec is left as it was


def test_schema_examples_are_the_same_every_time():
    either = {"oneOf": [{"type": "integer"}, {"type": "string"}]}
    schema = {"allOf": [{"properties": {"a": {"enum": ["x", "y"]}}}, {"properties": {"b": either}}]}
    assert example_from_schema(schema) == {"a": "x", "b": 0}
    recursive: dict = {"type": "object", "properties": {}}
    recursive["properties"]["child"] = recursive
    assert example_from_schema(recursive) is not None  # stops at a fixed depth


@pytest.mark.parametrize(
    "prefer", ["code=abc", "code=", "code=2000000000000", "code=../200", "example=__proto__",
               "example=" + "x" * 5000, "code=200;code=409", "respond-async"],
)  # fmt: skip
def test_a_hostile_prefer_header_gets_a_clear_answer(client, prefer):
    answer = client.get("/shop/orders", headers={"Prefer": prefer})
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 422:
        assert "is not a response of this operation" in answer.json()["detail"]
