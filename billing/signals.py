"""Billing's receivers for other apps' signals."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from accounts.models import Account
from accounts.signals import account_closed
from catalog.signals import catalog_applied

log = logging.getLogger(__name__)


@receiver(catalog_applied, dispatch_uid="billing.mirror_catalog")
def mirror_catalog(sender: Any, plans: Any = None, **_: Any) -> None:
    from billing.catalog_sync import sync_catalog
    from billing.gateway import BillingError

    try:
        sync_catalog(list(plans) if plans is not None else None)
    except BillingError as error:
        # The catalog itself is applied; Stripe catches up on the next apply or on start-up
        # of `make run` (which mirrors the catalog to the simulator once it answers).
        log.warning("could not mirror the catalog to Stripe: %s", error)


@receiver(account_closed, dispatch_uid="billing.cancel_on_close")
def cancel_on_close(sender: Any, account: Account, **_: Any) -> None:
    from billing.tasks import cancel_account_subscriptions

    # The signal comes inside the closing transaction; Stripe is called only once it commits.
    transaction.on_commit(lambda: cancel_account_subscriptions.delay(account.pk))
