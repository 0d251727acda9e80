"""Helpers shared by the gateway, catalog and gateway end-to-end tests."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings

from apikeys import keys, records
from apikeys.models import ApiKey
from catalog.models import ApiProduct, Plan, PlanProduct
from gateway import invalidation
from gateway.wsgi import auth_application

DEMO_SPEC = {
    "openapi": "3.1.0",
    "info": {"title": "t", "version": "1"},
    "paths": {"/hello": {"get": {}}, "/items/{id}": {"get": {}}, "/echo": {"post": {}}},
}


def make_key(account, environment: str = "live", **fields) -> tuple[str, ApiKey]:
    """A real key of `account`, stored as the apikeys app stores them; returns (raw, row)."""
    raw = keys.generate(environment)
    key = ApiKey.objects.create(
        account=account,
        name=fields.pop("name", "test key"),
        environment=environment,
        prefix=keys.display_prefix(raw),
        last4=raw[-4:],
        key_hash=keys.hash_key(raw),
        **fields,
    )
    return raw, key


def make_product(slug: str = "demo", prefix: str = "/demo/", **fields) -> ApiProduct:
    fields.setdefault("openapi_spec", DEMO_SPEC)
    return ApiProduct.objects.create(
        slug=slug, name=slug.title(), path_prefix=prefix,
        upstream_url=fields.pop("upstream_url", "http://127.0.0.1:9"), **fields,
    )  # fmt: skip


def make_plan(slug: str = "free", products=(), **fields) -> Plan:
    fields.setdefault("monthly_price", Decimal(0))
    plan = Plan.objects.create(slug=slug, name=slug.title(), **fields)
    for product in products:
        if isinstance(product, tuple):
            product, methods, prefixes = product
            PlanProduct.objects.create(
                plan=plan, product=product, methods=methods, path_prefixes=prefixes
            )
        else:
            PlanProduct.objects.create(plan=plan, product=product)
    return plan


def forget_caches() -> None:
    records.clear()
    records.unknown_key_budgets.clear()
    invalidation.apply(invalidation.EVERYTHING)


def ask(raw_key: str | None, method: str = "GET", uri: str = "/demo/hello", ip: str = "10.0.0.1",
        secret: str | None = None, header: str = "HTTP_AUTHORIZATION",
        product: str = "demo"):  # fmt: skip
    """Call the auth endpoint's WSGI callable as nginx would; returns (status, headers dict)."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/gateway/auth",
        "HTTP_X_GATEWAY_SECRET": settings.GATEWAY_SECRET if secret is None else secret,
        "HTTP_X_ORIGINAL_METHOD": method,
        "HTTP_X_ORIGINAL_URI": uri,
        "HTTP_X_REAL_IP": ip,
        "HTTP_X_GATEWAY_PRODUCT": product,  # the product whose location nginx chose
    }
    if raw_key is not None:
        environ[header] = f"Bearer {raw_key}" if header == "HTTP_AUTHORIZATION" else raw_key
    answer: dict = {}

    def start_response(status, headers, exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(headers)

    body = b"".join(auth_application(environ, start_response))
    return answer["status"], answer["headers"], body
