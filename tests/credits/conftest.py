from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import TestCase
from django.utils import timezone

from catalog.models import CreditPack
from credits import ledger
from credits.models import EntryKind, TimePass

# The fixtures of the billing tests (the simulator), for the purchase tests.
from tests.billing.conftest import _simulator_in_process, _simulator_server, sim  # noqa: F401
from tests.gateway.conftest import fresh_gateway_caches  # noqa: F401
from tests.gateway.support import make_plan, make_product


@pytest.fixture
def product(db):
    return make_product()


@pytest.fixture
def free_plan(product):
    return make_plan("free", [product], is_default=True, requests_per_period=5)


@pytest.fixture
def payg(product):
    return make_plan("payg", [product], requests_per_second=1000, requests_per_minute=100000)


@pytest.fixture
def pack(payg):
    return CreditPack.objects.create(
        slug="ten", name="10 credits", credits=10, price=Decimal("1.00"), plan=payg
    )


@pytest.fixture
def day_pass(product):
    return make_plan(
        "day", [product], requests_per_period=3, pass_days=1, pass_price=Decimal("5.00")
    )


def grant(account, pack, reference="cs_test_1", kind=EntryKind.PURCHASE):
    """A purchase as the webhook records it, its on-commit Redis grant run."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return ledger.grant_pack(account, pack, kind, reference, pack.price)


def running_pass(account, plan, hours_left=5.0, hours_ago=1.0):
    now = timezone.now()
    return TimePass.objects.create(
        account=account,
        plan=plan,
        starts_at=now - timedelta(hours=hours_ago),
        ends_at=now + timedelta(hours=hours_left),
        checkout_session_id=f"cs_{hours_left}",
    )
