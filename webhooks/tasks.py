from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from webhooks import delivery


@shared_task(name="webhooks.deliver")
def deliver(delivery_id: int) -> str:
    """One attempt of one delivery (routed to the `webhooks` queue; idempotent: a delivery
    that is not due, or that another worker holds, is left alone)."""
    return delivery.attempt(delivery_id)


@shared_task(name="webhooks.send_due")
def send_due() -> int:
    """Beat: queue the retries that are due (and deliveries a dead worker left)."""
    ids = delivery.due_ids(timezone.now())
    for delivery_id in ids:
        deliver.delay(delivery_id)
    return len(ids)
