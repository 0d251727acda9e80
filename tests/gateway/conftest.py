from __future__ import annotations

import pytest

from tests.gateway.support import forget_caches, make_plan, make_product


@pytest.fixture(autouse=True)
def fresh_gateway_caches():
    forget_caches()
    yield
    forget_caches()


@pytest.fixture
def product(db):
    return make_product()


@pytest.fixture
def free_plan(product):
    return make_plan(
        "free", [product], is_default=True,
        requests_per_second=100, requests_per_minute=1000, requests_per_period=5,
    )  # fmt: skip
