from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from accounts.models import Account
from portal.metrics import FLUSH_BACKLOG, FLUSH_LAST_SUCCESS
from portal.redis_client import get_redis
from usage.alerts import check_quota_alerts
from usage.flush import flush
from usage.overage import send_pending


@shared_task(name="usage.flush_counters")
def flush_counters() -> str:
    summary = flush(get_redis())
    FLUSH_BACKLOG.set(summary.applied + summary.already_applied)
    FLUSH_LAST_SUCCESS.set_to_current_time()
    now = timezone.now()
    alerts = sum(
        len(check_quota_alerts(account, now))
        for account in Account.objects.filter(id__in=summary.account_ids)
    )
    overage = send_pending()  # after the commit: the meter call is network I/O
    return (
        f"claimed {summary.claimed}, applied {summary.applied} ({summary.calls} calls), "
        f"{alerts} alerts, {overage} overage reports"
    )
