"""Celery tasks: thin drivers that take ids and call one function in billing.flows."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from accounts.models import Account
from billing import flows
from billing.models import Customer, StripeEvent
from core.redis_keys import reconcile_continuation_key
from portal.redis_client import get_redis

log = logging.getLogger(__name__)
MAX_RETRIES = 8
RECONCILE_CHUNK = 50  # customers per task: a few Stripe calls each, a minute or two at most
RECONCILE_KEY_TTL_SECONDS = 2 * 86400


def retry_wait(retries: int) -> int:
    """Exponential backoff, capped below the broker's visibility timeout (settings)."""
    return int(min(settings.TASK_RETRY_MAX_SECONDS, 5 * 2**retries))


@shared_task(bind=True, name="billing.apply_event", max_retries=MAX_RETRIES)
def apply_event(self: Task[[str], str], event_id: str) -> str:
    try:
        return flows.apply_event(event_id)
    except Exception as error:
        # Record why on the event row, then retry with exponential backoff (5 s … ~10 min);
        # the nightly reconcile and retry_failed_events catch anything left behind.
        flows.mark_failed(event_id, error)
        raise self.retry(exc=error, countdown=retry_wait(self.request.retries)) from error


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
def reconcile() -> str:
    """Fan out over BILLING_RECONCILE_CONCURRENCY lanes, each a chain of short tasks.

    One task for every customer would run for hours: past the broker's visibility timeout it
    is delivered again and runs twice. Lanes bound how many tasks call Stripe at once; chunks of
    RECONCILE_CHUNK customers keep each task short. Syncing is idempotent, so a redelivered
    chunk changes nothing twice.
    """
    run, lanes = uuid.uuid4().hex, settings.BILLING_RECONCILE_CONCURRENCY
    for lane in range(lanes):
        reconcile_lane.delay(run, lane, lanes, 0)
    return f"reconcile {run}: {lanes} lanes"


@shared_task(name="billing.reconcile_lane")
def reconcile_lane(run: str, lane: int, lanes: int, after_id: int) -> int:
    """The next chunk of one lane (customers whose id % lanes == lane), then the chunk after."""
    chunk = list(
        Customer.objects.annotate(lane=F("id") % lanes)
        .filter(lane=lane, id__gt=after_id)
        .order_by("id")
        .values_list("id", "account_id")[:RECONCILE_CHUNK]
    )
    changes = flows.reconcile(accounts=[account_id for _, account_id in chunk])
    log.info("reconcile %s lane %d: %d customers, %d changes", run, lane, len(chunk), changes)
    last_id = chunk[-1][0] if chunk else after_id
    # A redelivered chunk must not start a second chain behind it: the first to continue wins.
    if len(chunk) == RECONCILE_CHUNK and get_redis().set(
        reconcile_continuation_key(run, lane, last_id), 1, nx=True, ex=RECONCILE_KEY_TTL_SECONDS
    ):
        reconcile_lane.delay(run, lane, lanes, last_id)
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
        raise self.retry(exc=error, countdown=retry_wait(self.request.retries)) from error
