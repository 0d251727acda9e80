"""Overage reported to Stripe's Billing Meter, exactly once per account, period and batch.

The usage ledger (usage app) calls report_overage() with the calls above the plan's quota made
with live keys; test keys never reach it. The identifier is deterministic, so a retry after a
crash between sending and recording sends the same identifier, which Stripe dedupes; the
MeterReport row, under a unique constraint, is the authority on what was billed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import Account
from billing import gateway
from billing.models import Customer, MeterReport


def meter_identifier(account: Account, period_start: datetime, batch_id: str) -> str:
    return f"{account.id}:{period_start:%Y%m%d}:{batch_id}"


def report_overage(account: Account, period_start: datetime, batch_id: str, quantity: int) -> bool:
    """Send `quantity` overage calls once; False when this batch was already reported."""
    identifier = meter_identifier(account, period_start, batch_id)
    if quantity <= 0 or MeterReport.objects.filter(identifier=identifier).exists():
        return False
    customer = Customer.objects.filter(account=account).first()
    if customer is None:
        return False  # no Stripe customer: never subscribed, so nothing to bill
    # Stripe refuses meter events older than 35 days; the batch is timestamped now.
    timestamp = int(datetime.now(UTC).timestamp())
    gateway.create_meter_event(
        settings.STRIPE_METER_EVENT_NAME, customer.stripe_id, quantity, identifier, timestamp
    )
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
