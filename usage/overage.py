"""Overage from the usage ledger to Billing's meter, exactly once per flushed batch."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from accounts.models import Account
from billing.gateway import BillingError
from billing.metering import report_overage
from billing.standing import standing_for
from usage.models import OverageToReport
from usage.reports import live_units

log = logging.getLogger(__name__)


def overage_in_batch(account: Account, hour: datetime, live_ok_units: int, batch_id: str) -> None:
    """Call inside the batch's transaction, before its counts are added, with the account locked:
    queue the part of this batch's admitted live units (calls times their cost) beyond the
    period's quota."""
    plan = account.effective_plan()
    if (
        not live_ok_units
        or plan is None
        or not plan.has_overage
        or plan.requests_per_period is None
    ):
        return
    # The latest moment of the batch's hour that has passed: its calls were decided by then.
    used_at = min(hour + timedelta(hours=1, seconds=-1), timezone.now())
    standing = standing_for(account, used_at)
    before = live_units(account, standing.period_start, standing.period_end)
    quota = plan.requests_per_period
    quantity = max(0, before + live_ok_units - quota) - max(0, before - quota)
    if quantity:
        OverageToReport.objects.create(
            batch_id=batch_id, account=account, period_start=standing.period_start,
            quantity=quantity, used_at=used_at,
        )  # fmt: skip


def send_pending() -> int:
    """Send queued overage to the meter (network I/O outside any transaction). Safe to rerun."""
    sent = 0
    for item in OverageToReport.objects.filter(sent_at__isnull=True).select_related("account"):
        try:
            report_overage(
                item.account, item.period_start, item.batch_id, item.quantity, item.used_at
            )
        except BillingError as error:
            log.warning("overage of %s not sent yet: %s", item.batch_id, error)
            continue
        # Sent now, or recorded by an earlier run: the ledger dedupes either way.
        OverageToReport.objects.filter(pk=item.pk).update(sent_at=timezone.now())
        sent += 1
    return sent
