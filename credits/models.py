"""Prepaid credits (a durable ledger, mirrored by a Redis balance the gateway spends) and
time passes (a plan bought once for a number of days). See docs/architecture.md, "Credits"."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Sum

from accounts.models import Account
from catalog.models import CreditPack, Plan


class CreditWalletQuerySet(models.QuerySet["CreditWallet"]):
    def locked(self, account_id: int) -> CreditWallet | None:
        """The account's wallet (with its account), its row locked: one writer at a time."""
        return (
            self.select_for_update().select_related("account").filter(account_id=account_id).first()
        )


class CreditWallet(models.Model):
    """An account's credit settings; made by its first purchase. An account with a wallet and
    no subscription or running pass spends credits (credits.terms)."""

    account = models.OneToOneField(Account, on_delete=models.CASCADE, related_name="credit_wallet")
    # The plan of the last pack bought: its rate limits and products apply while spending.
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    auto_topup = models.BooleanField(default=False)
    topup_pack = models.ForeignKey(
        CreditPack, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    topup_below = models.PositiveBigIntegerField(default=0)
    low_balance_below = models.PositiveBigIntegerField(default=0)  # the email's threshold
    # The card saved by Checkout (setup_future_usage=off_session), charged by top-ups.
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    # Set when the email or top-up fired; cleared by the next grant (one per dip).
    low_notified = models.BooleanField(default=False)
    exhausted_notified = models.BooleanField(default=False)
    topup_pending = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CreditWalletQuerySet.as_manager()

    def __str__(self) -> str:
        return f"credits of {self.account}"


class EntryKind(models.TextChoices):
    PURCHASE = "purchase", "Purchase"
    TOPUP = "topup", "Automatic top-up"
    USAGE = "usage", "Calls"
    REFUND = "refund", "Refund"
    EXPIRY = "expiry", "Expired"


GRANTS = (EntryKind.PURCHASE, EntryKind.TOPUP, EntryKind.REFUND, EntryKind.EXPIRY)


class CreditEntryQuerySet(models.QuerySet["CreditEntry"]):
    def balance(self) -> int:
        return int(self.aggregate(total=Sum("units"))["total"] or 0)


class CreditEntry(models.Model):
    """One movement of an account's credits, in units (negative: spent, refunded, expired).

    `reference` makes each movement happen once: a Checkout Session or PaymentIntent id for a
    purchase or top-up, the flush's batch id for usage, `expiry:<entry id>` for an expiry."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="credit_entries")
    kind = models.CharField(max_length=10, choices=EntryKind)
    units = models.BigIntegerField()
    day = models.DateField()
    reference = models.CharField(max_length=255, unique=True)
    pack = models.ForeignKey(
        CreditPack, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # purchases of expiring packs
    # Grants (every kind but usage) are added to the Redis balance after commit; the flush
    # applies any left out by a crash (credits.balance).
    applied_to_redis = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CreditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "day"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="usage") | models.Q(applied_to_redis=True),
                name="credits_usage_is_from_redis",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.units:+} for {self.account_id}"


class TopUpStatus(models.TextChoices):
    PENDING = "pending", "Charging"
    SUCCEEDED = "succeeded", "Paid"
    FAILED = "failed", "Declined"


class TopUp(models.Model):
    """One automatic top-up: an off-session PaymentIntent on the saved card. Its id is the
    PaymentIntent's idempotency key, so a retried task never charges twice."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="credit_topups")
    pack = models.ForeignKey(CreditPack, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=TopUpStatus, default=TopUpStatus.PENDING)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"top-up of {self.account_id}: {self.status}"


class TimePass(models.Model):
    """A plan bought once: access and its quota run from `starts_at` to `ends_at`."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="time_passes")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    checkout_session_id = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-ends_at", "-id"]

    def __str__(self) -> str:
        return f"{self.plan} pass for {self.account} until {self.ends_at:%Y-%m-%d %H:%M}"

    def is_running(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at
