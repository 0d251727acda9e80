"""Where each product sends test keys: the catalog's word for it, checked as it is written, and
kept for the products of the previous release (docs/sandbox.md)."""

from __future__ import annotations

import os

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from catalog.applying import CatalogError, apply_catalog
from catalog.models import ApiProduct
from tests.gateway.support import DEMO_SPEC, make_plan, make_product
from tests.helpers import ROOT

BEFORE = [("catalog", "0004_coupons")]
AFTER = [("catalog", "0005_product_test_route")]


@pytest.mark.django_db(transaction=True)
def test_products_of_the_previous_release_keep_calling_their_live_upstream():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    try:
        old_apps = executor.loader.project_state(BEFORE).apps
        old_apps.get_model("catalog", "ApiProduct").objects.create(
            slug="orders", name="Orders", path_prefix="/orders/",
            upstream_url="https://orders.example.com", openapi_spec={"openapi": "3.0.3"},
        )  # fmt: skip
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
    product = executor.loader.project_state(AFTER).apps.get_model("catalog", "ApiProduct")
    kept = product.objects.get(slug="orders")
    assert (kept.upstream_url, kept.openapi_spec, kept.test_route) == (
        "https://orders.example.com", {"openapi": "3.0.3"}, "live",
    )  # fmt: skip


def product(**fields) -> ApiProduct:
    fields = {"slug": "p", "name": "P", "path_prefix": "/p/", "upstream_url": "http://a.example",
              "openapi_spec": DEMO_SPEC} | fields  # fmt: skip
    return ApiProduct(**fields)


@pytest.mark.parametrize(
    "route",
    ["live", "mock", "http://staging.example.com", "https://staging.example.com:8443/",
     "http://10.0.0.7:8080", "https://[2001:db8::1]:8443"],
)  # fmt: skip
def test_a_product_sends_test_keys_live_to_the_mock_or_to_a_sandbox_url(route):
    product(test_route=route).full_clean(validate_unique=False)


@pytest.mark.parametrize(
    "route",
    ["", "Mock", "LIVE", "sandbox", "ftp://files.example.com", "staging.example.com",
     "https://staging.example.com/v1", "https://staging.example.com?x=1",
     "https://user:pw@staging.example.com", "https://a.example;evil", "http://a b.example",
     "https://staging.example.com#x", "javascript:alert(1)", "http://", "https://a.example}"],
)  # fmt: skip
def test_anything_else_is_refused_with_the_rule(route):
    with pytest.raises(ValidationError) as refused:
        product(test_route=route).full_clean(validate_unique=False)
    assert "test_route" in refused.value.message_dict


def test_the_mock_needs_a_spec():
    with pytest.raises(ValidationError, match="OpenAPI spec"):
        product(test_route="mock", openapi_spec=None).full_clean(validate_unique=False)


CATALOG = """
[[products]]
slug = "demo"
name = "Demo"
path_prefix = "/demo/"
upstream_url = "http://127.0.0.1:8081"
openapi_spec = "openapi.json"
{route}
"""


def apply(tmp_path, route_line: str):
    import shutil
    import tomllib

    shutil.copy(ROOT / "deploy/demo/openapi.json", tmp_path / "openapi.json")
    return apply_catalog(tomllib.loads(CATALOG.format(route=route_line)), tmp_path)


@pytest.mark.django_db
def test_the_catalog_file_says_where_test_keys_go_and_leaving_it_out_means_live(tmp_path):
    apply(tmp_path, 'test_route = "https://staging.example.com"')
    assert ApiProduct.objects.get().test_route == "https://staging.example.com"
    apply(tmp_path, 'test_route = "mock"')
    assert ApiProduct.objects.get().test_route_kind == "mock"
    apply(tmp_path, "")
    assert ApiProduct.objects.get().test_route == "live"


@pytest.mark.django_db
def test_a_bad_route_in_the_catalog_file_changes_nothing(tmp_path):
    apply(tmp_path, 'test_route = "mock"')
    with pytest.raises(CatalogError, match="test_route"):
        apply(tmp_path, 'test_route = "https://staging.example.com/api"')
    assert ApiProduct.objects.get().test_route == "mock"


@pytest.mark.django_db
def test_the_demo_catalog_sends_test_keys_to_the_mock():
    with open(os.devnull, "w") as quiet:
        call_command("apply_catalog", str(ROOT / "deploy/demo/catalog.toml"), stdout=quiet)
    assert ApiProduct.objects.get(slug="demo").test_route == "mock"


def render(tmp_path, **options) -> str:
    with open(os.devnull, "w") as quiet:
        call_command("gateway_config", run_dir=str(tmp_path), stdout=quiet, **options)
    return (tmp_path / "nginx.conf").read_text()


@pytest.mark.django_db
def test_the_nginx_config_routes_each_product_as_it_says_and_nginx_accepts_it(tmp_path, settings):
    from tests.e2e.tls import ThrowawayCA

    settings.GATEWAY_UPSTREAM_CA_BUNDLE = str(ThrowawayCA(tmp_path).path)
    make_plan("free", [
        make_product("plain", "/plain/"),
        make_product("mocked", "/mocked/", test_route="mock"),
        # Names nginx -t can resolve: localhost for the live API, an address for the sandbox.
        make_product("staged", "/staged/", test_route="https://127.0.0.2:8443",
                     upstream_url="https://localhost:9443"),
    ], is_default=True)  # fmt: skip
    conf = render(tmp_path, mock="10.0.0.9:8082")
    assert "upstream tollgate_mock {\n        server 10.0.0.9:8082;" in conf
    assert "upstream product_staged_sandbox {\n        server 127.0.0.2:8443;" in conf
    # Only an exact "live" from the decision reaches a live upstream; the rest fails closed.
    assert "map $tg_environment $tg_target_mocked {\n        default mock;" in conf
    assert "map $tg_environment $tg_target_staged {\n        default sandbox;" in conf
    assert conf.count('"~^live$" live;') == 2
    assert "default http://tollgate_mock;" in conf
    assert "default https://product_staged_sandbox;\n        live https://product_staged;" in conf
    assert "default 127.0.0.2;\n        live localhost;" in conf  # SNI and Host
    assert "proxy_pass http://product_plain;" in conf  # a live product: no maps at all
    assert "$tg_target_plain" not in conf
    result = subprocess_nginx_test(tmp_path)
    assert result.returncode == 0, result.stderr


def subprocess_nginx_test(tmp_path):
    import subprocess

    conf = str(tmp_path / "nginx.conf")
    return subprocess.run(["/usr/sbin/nginx", "-t", "-p", str(tmp_path), "-c", conf],
                          capture_output=True, text=True)  # fmt: skip


@pytest.mark.django_db
def test_no_mock_upstream_without_a_mock_product(tmp_path):
    make_plan("free", [make_product("plain", "/plain/")], is_default=True)
    assert "tollgate_mock" not in render(tmp_path)


@pytest.mark.django_db
def test_a_sandbox_url_written_past_the_checks_is_refused_at_render(tmp_path):
    make_plan("free", [make_product("bad", "/bad/", test_route="https://a.example;x")],
              is_default=True)  # fmt: skip
    with pytest.raises(CommandError, match="test_route"):
        render(tmp_path)
