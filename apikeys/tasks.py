from __future__ import annotations

import logging

from celery import shared_task

from apikeys.reminders import send_expiry_reminders as send_due_reminders

log = logging.getLogger(__name__)


@shared_task(name="apikeys.send_expiry_reminders")
def send_expiry_reminders() -> int:
    """Daily (CELERY_BEAT_SCHEDULE): email about keys that expire within 7 days, once per key."""
    sent = send_due_reminders()
    log.info("Sent %d key expiry reminder(s)", sent)
    return sent
