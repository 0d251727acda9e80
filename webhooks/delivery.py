"""Sending one delivery: claim it, POST it signed, record the answer, schedule the retry.

Attempts happen outside any transaction (network I/O). A delivery is claimed with a lease
before it is sent, so two workers never send it at once, and a worker that dies mid-send
leaves it to be sent again when the lease runs out: at least once, and the receiver dedupes on
the event id. An endpoint has one delivery in flight at a time (`Endpoint.busy_until`), so a
slow or hanging receiver ties up one worker thread for at most the timeout, never the others'.
"""

from __future__ import annotations

import http.client
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, User
from accounts.roles import Role
from portal import emails, throttle
from webhooks import signing, targets
from webhooks.events import body, queue_on_commit
from webhooks.models import Delivery, Endpoint, Event, EventType, new_event_id

log = logging.getLogger(__name__)

# After the first attempt: 1 min, 5 min, 30 min, 2 h, 5 h, then every 10 h: given up about
# three days after the event (2 days 20 hours), like Stripe.
RETRY_DELAYS = [timedelta(minutes=m) for m in (1, 5, 30, 120, 300, 600, 600, 600, 600, 600, 600)]
RESPONSE_CAP = 64 * 1024  # read at most this much of an answer; then hang up
STORED_BODY = 1024  # what the delivery log keeps of it
STORED_ERROR = 300
USER_AGENT = "Tollgate-Webhooks/1"
# Longer than one attempt can take (connect + each read within the timeout, body by deadline).
LEASE = timedelta(seconds=120)
BUSY_RETRY = timedelta(seconds=5)


@dataclass(frozen=True)
class Answer:
    status: int | None
    body: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(endpoint: Endpoint, event: Event, now: datetime) -> Answer:
    payload = body(event)
    timeout = settings.WEBHOOKS_TIMEOUT_SECONDS
    started = time.monotonic()

    def answer(status: int | None, text: str = "", error: str = "") -> Answer:
        elapsed = int((time.monotonic() - started) * 1000)
        return Answer(status, storable(text, STORED_BODY), storable(error, STORED_ERROR), elapsed)

    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Tollgate-Event-Id": event.public_id,
        "Tollgate-Event-Type": event.type,
        signing.HEADER: signing.header_value(
            endpoint.signing_secrets(now), int(now.timestamp()), payload
        ),
    }
    try:
        conn, target = targets.connection(endpoint.url, timeout)
    except targets.UnsafeTarget as exc:
        return answer(None, error=f"{exc.code}: {exc}")
    try:
        conn.request("POST", target.path, body=payload, headers=headers)
        response = conn.getresponse()
        text = read_capped(response, deadline=started + 2 * timeout)
        return answer(response.status, text.decode("utf-8", "replace"))
    # Timeouts, refusals, TLS; malformed answers: http.client raises HTTPException (a garbage
    # status line, a header line over 64 KB, too many headers), which is not an OSError.
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return answer(None, error=f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def storable(text: str, limit: int) -> str:
    """Receiver-supplied text as PostgreSQL can keep it: a text column refuses NUL (the save
    would fail and the delivery be sent again forever), and the log keeps only so much."""
    return text[:limit].replace("\x00", "\ufffd")


def post_or_failure(endpoint: Endpoint, event: Event, now: datetime) -> Answer:
    """post(), and whatever else goes wrong in it a failed answer: a claimed delivery must
    always have its attempt recorded, or it is re-sent every lease, forever, never backing off
    and never disabling its endpoint."""
    started = time.monotonic()
    try:
        return post(endpoint, event, now)
    except Exception as exc:  # the last resort; the expected failures are caught in post()
        log.exception("webhook delivery to endpoint %s failed unexpectedly", endpoint.pk)
        elapsed = int((time.monotonic() - started) * 1000)
        error = storable(f"{type(exc).__name__}: {exc}", STORED_ERROR)
        return Answer(None, "", error, elapsed)


def read_capped(response: object, deadline: float) -> bytes:
    """At most RESPONSE_CAP bytes, and stop at the deadline: a receiver trickling an endless
    answer cannot hold the worker."""
    chunks: list[bytes] = []
    size = 0
    while size < RESPONSE_CAP and time.monotonic() < deadline:
        chunk = response.read1(RESPONSE_CAP - size)  # type: ignore[attr-defined]
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def attempt(delivery_id: int, now: datetime | None = None) -> str:
    """One attempt of a due delivery; what happened, for the task's log line."""
    now = now or timezone.now()
    due = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    claimed = (
        Delivery.objects.filter(due, pk=delivery_id, status=Delivery.Status.PENDING)
        .filter(next_attempt_at__lte=now)
        .update(lease_until=now + LEASE)
    )
    if not claimed:
        return "not due"
    delivery = Delivery.objects.select_related("endpoint", "event__account").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.is_enabled:
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.FAILED, error="endpoint disabled", lease_until=None
        )
        return "endpoint disabled"
    free = Q(busy_until__isnull=True) | Q(busy_until__lt=now)
    if not Endpoint.objects.filter(free, pk=endpoint.pk).update(busy_until=now + LEASE):
        # Another delivery to this endpoint is in flight: try again shortly, no attempt spent.
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=now + BUSY_RETRY, lease_until=None
        )
        return "endpoint busy"
    try:
        answer = post_or_failure(endpoint, delivery.event, now)
    finally:
        Endpoint.objects.filter(pk=endpoint.pk).update(busy_until=None)
    return record(delivery, answer, now)


def record(delivery: Delivery, answer: Answer, now: datetime) -> str:
    delivery.attempts += 1
    delivery.retries += 1
    delivery.last_attempt_at = now
    delivery.response_status = answer.status
    delivery.response_body = answer.body
    delivery.error = answer.error
    delivery.duration_ms = answer.duration_ms
    delivery.lease_until = None
    if answer.ok:
        delivery.status = Delivery.Status.SUCCEEDED
        delivery.next_attempt_at = None
    elif delivery.retries > len(RETRY_DELAYS):
        delivery.status = Delivery.Status.FAILED
        delivery.next_attempt_at = None
    else:
        delivery.next_attempt_at = now + RETRY_DELAYS[delivery.retries - 1]
    delivery.save()
    if delivery.status == Delivery.Status.FAILED:
        disable(delivery.endpoint, "Deliveries failed for three days.", now)
    return f"{delivery.status} ({answer.status or answer.error})"


def disable(endpoint: Endpoint, reason: str, now: datetime) -> bool:
    """Stop sending to an endpoint that keeps failing, and tell its owners, once."""
    with transaction.atomic():
        turned_off = Endpoint.objects.filter(pk=endpoint.pk, disabled_at__isnull=True).update(
            disabled_at=now, disabled_reason=reason
        )
        if turned_off:
            account = endpoint.account
            context = {"account": account, "endpoint": endpoint, "reason": reason}
            to = managers(account)
            transaction.on_commit(lambda: emails.send("webhook-disabled", to, context))
    return bool(turned_off)


def managers(account: Account) -> list[str]:
    people = User.objects.filter(
        memberships__account=account, memberships__role__in=[Role.OWNER, Role.ADMIN]
    )
    return sorted(people.values_list("email", flat=True))


def due_ids(now: datetime, limit: int = 500) -> list[int]:
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    return list(
        Delivery.objects.filter(free, status=Delivery.Status.PENDING, next_attempt_at__lte=now)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


class TooManySends(Exception):
    """ "Send test" and "resend" of one endpoint came too often; try again in `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        self.message = (
            "This endpoint has been sent as many test events and resends as it may in a "
            f"minute; try again in {retry_after} seconds."
        )
        super().__init__(self.message)


def take_manual_send(endpoint: Endpoint) -> None:
    """Each click is a POST to someone's server: a loop of them must not become a flood."""
    limit = throttle.Limit(
        f"webhook-sends:endpoint:{endpoint.pk}", settings.WEBHOOKS_MANUAL_SENDS_PER_MINUTE, 60
    )
    if throttle.take(limit) is not None:
        raise TooManySends(throttle.seconds_left(limit))


def resend(delivery: Delivery) -> None:
    """Send again now, whatever happened before; the backoff starts over. TooManySends when
    the endpoint's manual sends are used up."""
    take_manual_send(delivery.endpoint)
    with transaction.atomic():
        Delivery.objects.filter(pk=delivery.pk).update(
            status=Delivery.Status.PENDING,
            retries=0,
            next_attempt_at=timezone.now(),
            lease_until=None,
        )
        queue_on_commit([delivery.pk])


def send_test(endpoint: Endpoint) -> Delivery:
    """A `webhook.test` event to this endpoint only; TooManySends when its manual sends are
    used up."""
    take_manual_send(endpoint)
    with transaction.atomic():
        event_id = new_event_id()
        event = Event.objects.create(
            public_id=event_id,
            account=endpoint.account,
            type=EventType.TEST,
            occurrence=f"webhook.test:{event_id}",
        )
        delivery = Delivery.objects.create(
            endpoint=endpoint, event=event, next_attempt_at=event.created_at
        )
        queue_on_commit([delivery.pk])
    return delivery
