"""Overage reported to Stripe's Billing Meter, exactly once per account, period and batch.

The usage ledger (usage app) calls report_overage() with the calls above the plan's quota made
with live keys; test keys never reach it. The identifier is deterministic, so a retry after a
crash between sending and recording sends the same identifier, which Stripe dedupes; the
MeterReport row, under a unique constraint, is the authority on what was billed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import Account
from billing import gateway
from billing.models import Customer, MeterReport

log = logging.getLogger(__name__)


def meter_identifier(account: Account, period_start: datetime, batch_id: str) -> str:
    return f"{account.id}:{period_start:%Y%m%d}:{batch_id}"


def report_overage(
    account: Account, period_start: datetime, batch_id: str, quantity: int, used_at: datetime
) -> bool:
    """Send `quantity` overage calls made at `used_at` once; False when already reported.

    Every retry sends the same parameters (identifier, value and timestamp): Stripe refuses a
    reused idempotency key with different ones.
    """
    identifier = meter_identifier(account, period_start, batch_id)
    if quantity <= 0 or MeterReport.objects.filter(identifier=identifier).exists():
        return False
    customer = Customer.objects.filter(account=account).first()
    if customer is None:
        return False  # no Stripe customer: never subscribed, so nothing to bill
    try:
        gateway.create_meter_event(
            settings.STRIPE_METER_EVENT_NAME,
            customer.stripe_id,
            quantity,
            identifier,
            int(used_at.timestamp()),
        )
    except gateway.BillingError as error:
        if error.code != "idempotency_error":
            raise
        # Stripe ran a request under this key before (an earlier release sent other
        # parameters): the identifier is known to Stripe, which dedupes on it. Not an outage:
        # recorded as sent, and said, since the event may carry the other parameters.
        log.warning("meter event %s was sent before with other parameters: %s", identifier, error)
    try:
        with transaction.atomic():
            MeterReport.objects.create(
                identifier=identifier,
                account=account,
                period_start=period_start,
                batch_id=batch_id,
                quantity=quantity,
            )
    except IntegrityError:
        return False  # a concurrent retry recorded it first; Stripe deduped the second send
    return True
