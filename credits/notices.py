"""What the customer hears about credits and passes: emails to the owners and billing people,
and the customer's webhooks (`credits.low`, `credits.exhausted`). Each once per dip: a flag on
the wallet, set here under its row lock and cleared by the next grant (credits.ledger)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from accounts.models import Account
from credits.models import CreditEntry, CreditWallet, TimePass, TopUp
from portal import emails
from usage.alerts import recipients
from webhooks import events as webhook_events


def after_balance(account_id: int, units: int) -> list[str]:
    """The emails and events a balance of `units` calls for; returns what was sent."""
    sent = []
    with transaction.atomic():
        wallet = CreditWallet.objects.locked(account_id)
        if wallet is None:
            return []
        if units <= 0 and not wallet.exhausted_notified:
            wallet.exhausted_notified = wallet.low_notified = True
            sent.append("exhausted")
        elif 0 < units <= wallet.low_balance_below and not wallet.low_notified:
            wallet.low_notified = True
            sent.append("low")
        if sent:
            wallet.save(update_fields=["exhausted_notified", "low_notified"])
            announce(wallet, sent[0], units)
    return sent


def announce(wallet: CreditWallet, what: str, units: int) -> None:
    account = wallet.account
    grants = CreditEntry.objects.filter(account=account).exclude(kind="usage").count()
    data = {"balance": max(units, 0), "threshold": wallet.low_balance_below}
    webhook_events.emit(account, f"credits.{what}", f"credits.{what}:{account.pk}:{grants}", data)
    context = {
        "account": account,
        "balance": max(units, 0),
        "exhausted": what == "exhausted",
        "auto_topup": wallet.auto_topup,
    }
    to = recipients(account)
    transaction.on_commit(lambda: emails.send("credits-low", to, context))


def topup_declined(account: Account, attempt: TopUp, error: str) -> None:
    context = {"account": account, "pack": attempt.pack, "error": error}
    to = recipients(account)
    transaction.on_commit(lambda: emails.send("topup-declined", to, context))


def reminder_due(time_pass: TimePass) -> datetime:
    """A day before the end, or a quarter of the pass before it for passes of under 4 days."""
    length = time_pass.ends_at - time_pass.starts_at
    return time_pass.ends_at - min(timedelta(days=1), length / 4)


def remind_expiring_passes(now: datetime) -> int:
    """Email each pass's reminder once: the row is claimed (reminded_at) before the email goes,
    so two runs at once send one; a pass renewed already (a later pass of the same plan) is
    not reminded."""
    sent = 0
    candidates = TimePass.objects.filter(
        reminded_at__isnull=True, ends_at__gt=now, starts_at__lte=now
    ).select_related("account", "plan")
    for time_pass in candidates:
        if reminder_due(time_pass) > now or renewed(time_pass):
            continue
        with transaction.atomic():
            claimed = TimePass.objects.filter(pk=time_pass.pk, reminded_at__isnull=True).update(
                reminded_at=now
            )
            if claimed:
                send_reminder(time_pass)
                sent += 1
    return sent


def send_reminder(time_pass: TimePass) -> None:
    context = {"account": time_pass.account, "time_pass": time_pass}
    to = recipients(time_pass.account)
    transaction.on_commit(lambda: emails.send("pass-expiring", to, context))


def renewed(time_pass: TimePass) -> bool:
    return TimePass.objects.filter(
        Q(account_id=time_pass.account_id, plan_id=time_pass.plan_id)
        & Q(starts_at__gte=time_pass.ends_at)
    ).exists()
