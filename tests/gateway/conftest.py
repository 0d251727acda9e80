from __future__ import annotations

import pytest

from gateway import entitlements
from gateway.signing import keys
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


@pytest.fixture
def signing_key(tmp_path, settings):
    """A key file of the test's own (rotations write beside it)."""
    settings.ENTITLEMENT_SIGNING_KEY_FILE = str(tmp_path / "signing.pem")
    from portal.keyfiles import create_if_missing

    create_if_missing(tmp_path / "signing.pem")
    keys.clear()
    entitlements.clear()
    yield tmp_path / "signing.pem"
    keys.clear()
    entitlements.clear()
