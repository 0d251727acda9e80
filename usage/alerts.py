"""Quota alerts: an email at each threshold of the period quota, once per threshold and period."""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from accounts.models import Account, User
from accounts.roles import Role
from billing.standing import standing_for
from portal import emails
from usage.models import QuotaAlert, UsagePreferences
from usage.reports import live_units
from webhooks import events as webhook_events

BUILT_IN_THRESHOLDS = (80, 100)


def thresholds_for(account: Account) -> list[int]:
    prefs = UsagePreferences.objects.filter(account=account).first()
    extra = prefs.extra_thresholds if prefs else []
    return sorted({*BUILT_IN_THRESHOLDS, *extra})


def recipients(account: Account) -> list[str]:
    people = User.objects.filter(
        memberships__account=account, memberships__role__in=[Role.OWNER, Role.BILLING]
    )
    return sorted(people.values_list("email", flat=True))


def check_quota_alerts(account: Account, now: datetime) -> list[int]:
    """Send the alerts this account has newly crossed; returns their thresholds."""
    plan = account.effective_plan()
    if plan is None or not plan.requests_per_period:
        return []
    quota = plan.requests_per_period
    standing = standing_for(account, now)
    used = live_units(account, standing.period_start, standing.period_end)
    sent = []
    for threshold in thresholds_for(account):
        if used * 100 < quota * threshold:
            break
        if record_alert(account, standing.period_start, threshold, used, quota):
            sent.append(threshold)
    return sent


def announce_threshold(
    account: Account, period_start: datetime, threshold: int, used: int, quota: int
) -> None:
    """The customer's webhooks: each threshold once per period, and the quota's end."""
    data = {
        "threshold": threshold,
        "used": used,
        "quota": quota,
        "period_start": period_start.isoformat(),
    }
    period = f"{account.pk}:{int(period_start.timestamp())}"
    webhook_events.emit(
        account, "quota.threshold_reached", f"quota.threshold_reached:{period}:{threshold}", data
    )
    if threshold == 100:
        webhook_events.emit(account, "quota.exhausted", f"quota.exhausted:{period}", data)


def record_alert(
    account: Account, period_start: datetime, threshold: int, used: int, quota: int
) -> bool:
    """The unique row decides who sends: two flushes racing send one email, not two."""
    try:
        with transaction.atomic():
            QuotaAlert.objects.create(
                account=account,
                period_start=period_start,
                threshold=threshold,
                used=used,
                quota=quota,
            )
            context = {"account": account, "threshold": threshold, "used": used, "quota": quota}
            transaction.on_commit(
                lambda: emails.send("quota-threshold", recipients(account), context)
            )
            announce_threshold(account, period_start, threshold, used, quota)
    except IntegrityError:
        return False
    return True
