from __future__ import annotations

import pytest

from catalog.models import ApiProduct, Plan, PlanProduct, Visibility

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Weather", "version": "1"},
    "paths": {
        "/forecast/{city}": {
            "get": {
                "summary": "Forecast for a city",
                "parameters": [
                    {"name": "city", "in": "path", "required": True, "example": "oslo",
                     "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "ok"}},
            }
        },
        "/echo": {
            "post": {
                "summary": "Echo",
                "requestBody": {"content": {"application/json": {"example": {"hello": "world"}}}},
                "responses": {"200": {"description": "ok"}},
            }
        },
    },
}  # fmt: skip


def make_product(slug: str, visibility: str, spec=SPEC) -> ApiProduct:
    return ApiProduct.objects.create(
        slug=slug,
        name=slug.title(),
        path_prefix=f"/{slug}/",
        upstream_url="http://127.0.0.1:9/",
        openapi_spec=spec,
        visibility=visibility,
    )


@pytest.fixture
def public_product(db):
    return make_product("weather", Visibility.PUBLIC)


@pytest.fixture
def gated_product(db):
    return make_product("reports", Visibility.PLAN)


@pytest.fixture
def private_product(db):
    return make_product("internal", Visibility.PRIVATE)


@pytest.fixture
def business_plan(gated_product):
    plan = Plan.objects.create(slug="business", name="Business")
    PlanProduct.objects.create(plan=plan, product=gated_product)
    return plan
