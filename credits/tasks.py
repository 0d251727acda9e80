from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from billing.gateway import BillingError
from credits import balance, ledger, notices, purchases
from credits.flush import flush_credits
from credits.models import CreditWallet
from portal.redis_client import get_redis


@shared_task(name="credits.flush")
def flush() -> str:
    """Ledger and Redis balance made to agree, then each changed account's consequences."""
    client = get_redis()
    summary = flush_credits(client)
    for account_id in sorted(summary.account_ids):
        check_balance.delay(account_id)
    return f"{summary.grants} grants applied, {summary.batches} batches ({summary.units} units)"


@shared_task(name="credits.check_balance")
def check_balance(account_id: int) -> str:
    """The low-balance email and events, and an automatic top-up below its threshold."""
    units = balance.balance_of(account_id)
    if units is None:
        return "unknown"
    sent = notices.after_balance(account_id, units)
    wallet = CreditWallet.objects.filter(account_id=account_id).first()
    if wallet is not None and wallet.auto_topup and units <= wallet.topup_below:
        top_up.delay(account_id)
    return ",".join(sent) or "quiet"


@shared_task(name="credits.top_up", bind=True, max_retries=5)
def top_up(self, account_id: int) -> str:  # type: ignore[no-untyped-def]
    try:
        return purchases.top_up(account_id)
    except BillingError as error:  # Stripe unreachable: the same attempt, the same key
        raise self.retry(exc=error, countdown=30) from error


@shared_task(name="credits.expire")
def expire() -> int:
    return ledger.expire_purchases(timezone.now())


@shared_task(name="credits.remind_expiring_passes")
def remind_expiring_passes() -> int:
    return notices.remind_expiring_passes(timezone.now())
