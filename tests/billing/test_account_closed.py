from __future__ import annotations

from django.db import transaction
from django.test import TestCase

from accounts.signals import account_closed
from billing import gateway
from tests.billing.conftest import subscribe


def test_it_cancels_the_subscription_once_the_account_closes(client, plans, team, alice, sim):
    sub_id = subscribe(sim, client, team, plans["starter"], alice)
    with TestCase.captureOnCommitCallbacks(execute=True), transaction.atomic():
        account_closed.send(sender=None, account=team)
        assert gateway.retrieve_subscription(sub_id)["status"] == "active"  # not before commit
    assert gateway.retrieve_subscription(sub_id)["status"] == "canceled"
