from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from accounts.models import Account
from portal.redis_client import get_redis
from usage.alerts import check_quota_alerts
from usage.flush import flush, sweep
from usage.overage import send_pending


@shared_task(name="usage.flush_counters")
def flush_counters() -> str:
    summary = flush(get_redis())
    # Each account's alerts are a task of their own: their email never holds up the next flush.
    for account_id in sorted(summary.account_ids):
        send_quota_alerts.delay(account_id)
    overage = send_pending()  # after the commit: the meter call is network I/O
    return (
        f"claimed {summary.claimed}, applied {summary.applied} ({summary.calls} calls), "
        f"alerts checked for {len(summary.account_ids)} accounts, {overage} overage reports"
    )


@shared_task(name="usage.send_quota_alerts")
def send_quota_alerts(account_id: int) -> list[int]:
    """Idempotent: each threshold's QuotaAlert row is unique, so a rerun sends nothing twice."""
    account = Account.objects.filter(id=account_id).first()
    return check_quota_alerts(account, timezone.now()) if account else []


@shared_task(name="usage.sweep_counters")
def sweep_counters() -> str:
    return f"{sweep(get_redis())} accounts marked for the flush"
