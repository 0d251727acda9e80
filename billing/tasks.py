"""Celery tasks: thin drivers that take ids and call one function in billing.flows."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.utils import timezone

from accounts.models import Account
from billing import flows
from billing.models import StripeEvent

log = logging.getLogger(__name__)
MAX_RETRIES = 8


@shared_task(bind=True, name="billing.apply_event", max_retries=MAX_RETRIES)
def apply_event(self: Task[[str], str], event_id: str) -> str:
    try:
        return flows.apply_event(event_id)
    except Exception as error:
        # Record why on the event row, then retry with exponential backoff (5 s … ~10 min);
        # the nightly reconcile and retry_failed_events catch anything left behind.
        flows.mark_failed(event_id, error)
        raise self.retry(exc=error, countdown=min(600, 5 * 2**self.request.retries)) from error


@shared_task(name="billing.retry_failed_events")
def retry_failed_events() -> int:
    cutoff = timezone.now() - timedelta(minutes=5)
    ids = list(
        StripeEvent.objects.retryable()
        .filter(received_at__lt=cutoff)
        .values_list("id", flat=True)[:500]
    )
    for event_id in ids:
        apply_event.delay(event_id)
    return len(ids)


@shared_task(name="billing.reconcile")
def reconcile() -> int:
    changes = flows.reconcile()
    log.info("reconcile_stripe: %d changes", changes)
    return changes


@shared_task(name="billing.announce_suspensions")
def announce_suspensions() -> int:
    announced = flows.announce_suspensions()
    if announced:
        log.info("announce_suspensions: %d account(s) past their grace period", announced)
    return announced


@shared_task(name="billing.end_expired_comps")
def end_expired_comps() -> int:
    ended = flows.end_expired_comps()
    if ended:
        log.info("end_expired_comps: %d comp(s) ended", ended)
    return ended


@shared_task(name="billing.cancel_account_subscriptions", max_retries=MAX_RETRIES, bind=True)
def cancel_account_subscriptions(self: Task[[int], None], account_id: int) -> None:
    try:
        flows.cancel_now(Account.objects.get(pk=account_id))
    except Exception as error:
        raise self.retry(exc=error, countdown=min(600, 5 * 2**self.request.retries)) from error
