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
