"""Customer webhooks: endpoints an account registers, the events that happened to it, and one
delivery row per (endpoint, event) that carries its attempts, retries and the last answer."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

from accounts.models import Account, User

SECRET_PREFIX = "whsec_"
# After a roll the old secret keeps signing beside the new one, so receivers can switch over.
PREVIOUS_SECRET_LIFETIME = timedelta(hours=24)


class EventType(models.TextChoices):
    QUOTA_THRESHOLD_REACHED = "quota.threshold_reached", "Quota threshold reached"
    QUOTA_EXHAUSTED = "quota.exhausted", "Quota exhausted"
    CREDITS_LOW = "credits.low", "Credit balance low"
    CREDITS_EXHAUSTED = "credits.exhausted", "Credits used up"
    RATE_LIMIT_SUSTAINED = "rate_limit.sustained", "Sustained rate limiting"
    KEY_CREATED = "key.created", "API key created"
    KEY_ROTATED = "key.rotated", "API key rotated"
    KEY_REVOKED = "key.revoked", "API key revoked"
    KEY_EXPIRING = "key.expiring", "API key expiring"
    SUBSCRIPTION_CHANGED = "subscription.changed", "Subscription changed"
    INVOICE_PAID = "invoice.paid", "Invoice paid"
    INVOICE_PAYMENT_FAILED = "invoice.payment_failed", "Invoice payment failed"
    # Only ever sent by "send a test event"; never subscribed to.
    TEST = "webhook.test", "Test event"


SUBSCRIBABLE = [t for t in EventType if t != EventType.TEST]


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def new_endpoint_id() -> str:
    return "we_" + secrets.token_urlsafe(12)


def new_event_id() -> str:
    return "evt_" + secrets.token_urlsafe(18)


class Endpoint(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_endpoint_id)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list)
    # Kept in clear: every delivery is signed with it. Shown to people once, when made.
    secret = models.CharField(max_length=100, default=new_secret)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # One delivery in flight per endpoint: a slow receiver holds one worker thread at most.
    busy_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.public_id} {self.url}"

    @property
    def is_enabled(self) -> bool:
        return self.disabled_at is None

    def wants(self, event_type: str) -> bool:
        return event_type == EventType.TEST or event_type in self.event_types

    def signing_secrets(self, now: datetime) -> list[str]:
        """The current secret, and the previous one while it is still honoured."""
        expires = self.previous_secret_expires_at
        if self.previous_secret and expires is not None and expires > now:
            return [self.secret, self.previous_secret]
        return [self.secret]

    def roll_secret(self, now: datetime | None = None) -> str:
        now = now or timezone.now()
        self.previous_secret = self.secret
        self.previous_secret_expires_at = now + PREVIOUS_SECRET_LIFETIME
        self.secret = new_secret()
        self.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
        return self.secret

    def enable(self) -> None:
        self.disabled_at = None
        self.disabled_reason = ""
        self.save(update_fields=["disabled_at", "disabled_reason"])


class Event(models.Model):
    """Something that happened to an account, once: `occurrence` names it uniquely (e.g.
    "key.created:<key id>"), so a replayed Stripe event or a re-run job adds nothing."""

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="webhook_events")
    type = models.CharField(max_length=40, choices=EventType)
    occurrence = models.CharField(max_length=255, unique=True)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.public_id} {self.type}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Delivery(models.Model):
    Status = DeliveryStatus

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # Attempts since the last resend: the backoff schedule starts again from a resend.
    retries = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="one_delivery_per_event")
        ]
        ordering = ["-event__created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.event.public_id} → {self.endpoint.public_id}: {self.status}"
