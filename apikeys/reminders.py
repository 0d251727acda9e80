"""Expiry reminders: owners and the creator hear about a key 7 days before it expires, once."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from apikeys.models import ApiKey, emails_to_remind
from portal import emails

REMIND_BEFORE = timedelta(days=7)

log = logging.getLogger(__name__)


def due_keys(now: datetime) -> list[ApiKey]:
    return list(
        ApiKey.objects.active(now)
        .filter(
            expires_at__lte=now + REMIND_BEFORE,
            expiry_reminder_sent_at__isnull=True,
            grace_ends_at__isnull=True,  # a rotated-out key's successor carries the expiry
            account__closed_at__isnull=True,
        )
        .select_related("account", "created_by")
    )


def send_expiry_reminders(now: datetime | None = None) -> int:
    now = now or timezone.now()
    sent = 0
    for key in due_keys(now):
        # Claim the key first (a conditional UPDATE), so two workers or a re-run never send twice.
        claimed = ApiKey.objects.filter(pk=key.pk, expiry_reminder_sent_at__isnull=True).update(
            expiry_reminder_sent_at=now
        )
        if not claimed:
            continue
        try:
            emails.send("key-expiring", emails_to_remind(key), {"key": key, "account": key.account})
        except Exception:
            # Release the claim so tomorrow's run tries again, and carry on with the others.
            ApiKey.objects.filter(pk=key.pk).update(expiry_reminder_sent_at=None)
            log.exception("Could not send the expiry reminder for %s", key.public_id)
            continue
        key.announce("key.expiring", once_per=f":{key.expires_at:%Y%m%dT%H%M%S}")
        sent += 1
    return sent
