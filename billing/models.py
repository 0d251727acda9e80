"""Thin local copies of Stripe's billing state, plus the ledgers that make side effects happen once.

Stripe is the source of truth for money: these rows are written only from objects re-fetched from
Stripe (webhooks, reconcile), never from a browser redirect.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, models, transaction

from accounts.models import Account

# Stripe statuses in which the subscription still gives its plan (past_due within the grace).
LIVE_STATUSES = ("trialing", "active", "past_due", "unpaid")


def from_timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


class Customer(models.Model):
    """The Stripe Customer of an account: created once, reused for every Checkout."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, related_name="billing_customer"
    )
    stripe_id = models.CharField(max_length=255, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.stripe_id


class SubscriptionQuerySet(models.QuerySet["Subscription"]):
    def live(self) -> SubscriptionQuerySet:
        return self.filter(status__in=LIVE_STATUSES)

    def current_for(self, account: Account) -> Subscription | None:
        """The subscription that gives the account its plan: the newest live one."""
        return next(iter(self.current_of(account.pk)), None)

    def current_of(self, account_id: int) -> SubscriptionQuerySet:
        """``current_for`` as a query of at most one row (the gateway compiles it once per
        process: core.prepared)."""
        return self.filter(account_id=account_id).live().order_by("-started_at", "-stripe_id")[:1]


class Subscription(models.Model):
    stripe_id = models.CharField(max_length=255, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="subscriptions")
    plan = models.ForeignKey(
        "catalog.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=30)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # When the unpaid renewal fell due; the grace period counts from here.
    past_due_since = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    checkout_session_id = models.CharField(max_length=255, blank=True)
    # A downgrade waiting for the period end (BILLING_DOWNGRADE_AT_PERIOD_END).
    scheduled_plan = models.ForeignKey(
        "catalog.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    scheduled_for = models.DateTimeField(null=True, blank=True)
    # How often the licensed price bills: "month" or "year" (MRR counts a year as 12 months).
    interval = models.CharField(max_length=5, default="month")
    updated_at = models.DateTimeField(auto_now=True)

    objects = SubscriptionQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.stripe_id} ({self.status})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES


class Invoice(models.Model):
    stripe_id = models.CharField(max_length=255, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invoices")
    subscription_stripe_id = models.CharField(max_length=255, blank=True)
    number = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=30)
    currency = models.CharField(max_length=3)
    amount_due = models.BigIntegerField(help_text="In the currency's smallest unit")
    amount_paid = models.BigIntegerField(default=0)
    tax = models.BigIntegerField(default=0, help_text="Of amount_due; Stripe Tax's total")
    discount = models.BigIntegerField(default=0, help_text="Taken off by coupons")
    created = models.DateTimeField()
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    hosted_invoice_url = models.URLField(max_length=500, blank=True)
    invoice_pdf = models.URLField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created", "-stripe_id"]

    def __str__(self) -> str:
        return self.number or self.stripe_id

    @property
    def amount(self) -> float:
        return self.amount_due / 100

    @property
    def tax_amount(self) -> float:
        return self.tax / 100

    @property
    def discount_amount(self) -> float:
        return self.discount / 100

    @property
    def status_words(self) -> str:
        words = {"open": "Due", "uncollectible": "Unpaid"}
        return words.get(self.status, self.status.capitalize())


class EventStatus(models.TextChoices):
    PENDING = "pending"
    APPLIED = "applied"
    FAILED = "failed"
    IGNORED = "ignored"


class StripeEventManager(models.Manager["StripeEvent"]):
    def record(self, event: dict[str, Any]) -> bool:
        """Store a verified event once; False when it was already stored (a redelivery).

        The primary key is the dedupe: a second insert of the same evt_ id fails on the
        constraint, never on a check-then-insert race.
        """
        # A v2 event arrives as a thin notification: it names its object, carries no data.
        thin = event.get("object") == "v2.core.event"
        obj = (event.get("related_object") if thin else event["data"]["object"]) or {}
        try:
            with transaction.atomic():
                self.create(
                    id=event["id"],
                    type=event["type"],
                    object_id=obj.get("id") or "",
                    created=_event_time(event.get("created")),
                )
        except IntegrityError:
            return False
        return True

    def retryable(self) -> models.QuerySet[StripeEvent]:
        return self.filter(status__in=[EventStatus.PENDING, EventStatus.FAILED])


def _event_time(created: Any) -> datetime:
    """A v1 event's Unix time or a v2 event's ISO 8601 string."""
    if isinstance(created, str):
        try:
            return datetime.fromisoformat(created)
        except ValueError:
            return datetime.now(UTC)
    return from_timestamp(created) or datetime.now(UTC)


class StripeEvent(models.Model):
    id = models.CharField(max_length=255, primary_key=True)
    type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=255, blank=True)
    created = models.DateTimeField()
    status = models.CharField(max_length=10, choices=EventStatus, default=EventStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    objects = StripeEventManager()

    def __str__(self) -> str:
        return f"{self.id} {self.type} ({self.status})"


class Notice(models.Model):
    """One row per side effect (an email, an audit event) ever produced from Stripe's state.

    Inserted in the same transaction as the change it announces, under a unique key, so replays,
    duplicate webhooks and reconcile runs never announce a thing twice.
    """

    key = models.CharField(max_length=255, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class MeterReport(models.Model):
    """The ledger of overage reported to Stripe's Billing Meter: the dedupe authority."""

    identifier = models.CharField(max_length=200, unique=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="meter_reports")
    period_start = models.DateTimeField()
    batch_id = models.CharField(max_length=100)
    quantity = models.PositiveBigIntegerField()
    reported_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.identifier


class MeterErrorReport(models.Model):
    """Stripe's report of meter events it accepted but could not bill (an unknown customer, no
    meter for the event name): `v1.billing.meter.error_report_triggered`. Overage in it was
    recorded as sent but is not on any invoice: the operator has to look."""

    event_id = models.CharField(max_length=255, unique=True)
    meter_id = models.CharField(max_length=255, blank=True)
    summary = models.TextField()
    error_count = models.PositiveIntegerField()
    # [{"code", "count", "samples": [{"identifier", "message", "account_id"}]}]
    errors = models.JSONField(default=list)
    validation_start = models.DateTimeField(null=True, blank=True)
    validation_end = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.error_count} meter event error(s) in {self.event_id}"


class MovementKind(models.TextChoices):
    OPENING = "opening", "Opening balance"  # the state found when the history began
    NEW = "new", "New"  # from no recurring revenue to some
    EXPANSION = "expansion", "Expansion"
    CONTRACTION = "contraction", "Contraction"
    CHURN = "churn", "Churn"  # from some recurring revenue to none
    PLAN_ONLY = "plan_only", "Plan change without revenue change"  # a comp, a trial starting


class PlanChange(models.Model):
    """One change of an account's plan or of the recurring revenue it brings, written by
    billing.revenue where plans change (Stripe's state applied, comps given and ended).

    Append-only: each row says what the account pays a month after the change and what it paid
    before, so a month's movement and the MRR at any month's end are sums in the database.
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="plan_changes")
    at = models.DateTimeField()
    # The plan the account is on after the change (a comp's, else its subscription's); None is
    # the catalog's default plan.
    plan = models.ForeignKey(
        "catalog.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    mrr = models.DecimalField(max_digits=12, decimal_places=2)
    previous_mrr = models.DecimalField(max_digits=12, decimal_places=2)
    kind = models.CharField(max_length=12, choices=MovementKind)
    source = models.CharField(max_length=20)  # "stripe", "comp", "migration"
    reference = models.CharField(max_length=255, blank=True)  # a subscription id, a comp reason

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["account", "-at", "-id"], name="billing_planchange_latest"),
            models.Index(fields=["at"], name="billing_planchange_at"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.kind} {self.previous_mrr}→{self.mrr} at {self.at:%Y-%m-%d}"
