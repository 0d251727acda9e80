from __future__ import annotations

import html

import pytest

from catalog.models import Visibility
from tests.apidocs.conftest import make_product

pytestmark = pytest.mark.django_db


def test_it_lists_public_products_for_visitors(client, public_product, gated_product):
    page = client.get("/docs/").content.decode()
    assert "Weather" in page
    assert "Reports" not in page


def test_it_lists_plan_gated_products_once_a_plan_includes_them(
    client, alice, team, public_product, gated_product, business_plan
):
    client.force_login(alice)
    assert "Reports" not in client.get("/docs/").content.decode()
    team.plan = business_plan
    team.save()
    assert "Reports" in client.get("/docs/").content.decode()
    assert client.get("/docs/reports/").status_code == 200


@pytest.mark.parametrize("who", ["visitor", "charlie", "alice"])
def test_invisible_products_are_404(client, request, who, gated_product, private_product):
    if who != "visitor":
        client.force_login(request.getfixturevalue(who))
    for url in ["/docs/reports/", "/docs/internal/", "/docs/internal/openapi.json"]:
        assert client.get(url).status_code == 404


def test_the_served_spec_points_at_the_gateway(client, settings, public_product):
    settings.GATEWAY_PUBLIC_URL = "https://api.example.com"
    spec = client.get("/docs/weather/openapi.json").json()
    assert spec["servers"] == [
        {"url": "https://api.example.com/weather", "description": "API gateway"}
    ]
    assert set(spec["paths"]) == {"/forecast/{city}", "/echo"}


def test_a_product_without_a_spec_answers_404_in_json(client):
    make_product("bare", Visibility.PUBLIC, spec=None)
    response = client.get("/docs/bare/openapi.json")
    assert response.status_code == 404
    assert response.json()["code"] == "no_spec"


def test_the_reference_page_has_snippets_for_every_operation(client, alice, public_product):
    client.force_login(alice)
    response = client.get("/docs/weather/")
    page = html.unescape(response.content.decode())
    assert 'curl -X GET "http://127.0.0.1:8080/weather/forecast/oslo"' in page
    assert "requests.post(" in page and 'JSON.stringify({"hello": "world"})' in page
    assert page.count("YOUR_TEST_KEY") >= 6
    assert 'id="swagger-ui"' in page and 'id="create-test-key"' in page
    assert "<script>" not in page


def test_getting_started_shows_a_first_call(client, public_product):
    page = client.get("/docs/getting-started/").content.decode()
    assert "Your first call in three steps" in page
    assert "http://127.0.0.1:8080/weather/forecast/oslo" in page
    for code in ["invalid_key", "payment_required", "rate_limited", "quota_exceeded"]:
        assert code in page


@pytest.mark.parametrize(
    ("route", "said", "badge"),
    [
        ("mock", "Test keys reach a mock.", "Test keys: mock"),
        ("https://staging.weather.example", "Test keys reach a sandbox.", "Test keys: sandbox"),
        ("live", "Test keys reach the live API.", "Test keys: live API"),
    ],
)
def test_the_reference_page_says_where_test_calls_go(client, public_product, route, said, badge):
    public_product.test_route = route
    public_product.save()
    page = client.get("/docs/weather/").content.decode()
    assert said in page
    assert "staging.weather.example" not in page  # the sandbox's address stays the seller's
    assert badge in client.get("/docs/").content.decode()
