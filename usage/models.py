from __future__ import annotations

from django.db import models


class HourlyUsage(models.Model):
    """Calls per account, key, product, endpoint group, hour and outcome, from the gateway.

    Written only by usage.flush, which adds each Redis batch exactly once.
    """

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    key_id = models.CharField(max_length=24)  # ApiKey.public_id; kept when a key is deleted
    environment = models.CharField(max_length=4)  # live or test: test calls are never billed
    product = models.CharField(max_length=50)
    endpoint = models.CharField(max_length=200)
    hour = models.DateTimeField()
    outcome = models.CharField(max_length=30)  # "ok", or the deny reason
    count = models.PositiveBigIntegerField(default=0)
    # Quota units the admitted calls consumed (calls times their endpoint's cost; 0 refused).
    units = models.PositiveBigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            # In the export's order (hour first): its index serves the export and the API's pages.
            models.UniqueConstraint(
                fields=["account", "hour", "key_id", "product", "endpoint", "outcome"],
                name="usage_hourly_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.key_id} {self.endpoint} {self.hour:%Y-%m-%d %H}h"


class FlushedBatch(models.Model):
    """A Redis counter batch already added to HourlyUsage: the unique id makes a rerun a no-op."""

    batch_id = models.CharField(max_length=120, unique=True)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    calls = models.PositiveBigIntegerField()
    flushed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.batch_id


class DailyUsage(models.Model):
    """HourlyUsage summed by UTC day, written in the same transaction as the hourly rows."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    key_id = models.CharField(max_length=24)
    environment = models.CharField(max_length=4)
    product = models.CharField(max_length=50)
    endpoint = models.CharField(max_length=200)
    day = models.DateField()
    outcome = models.CharField(max_length=30)
    count = models.PositiveBigIntegerField(default=0)
    # Quota units the admitted calls consumed (calls times their endpoint's cost; 0 refused).
    units = models.PositiveBigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "key_id", "product", "endpoint", "outcome"],
                name="usage_daily_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.key_id} {self.endpoint} {self.day}"


# The two spans of the summaries: hourly rows serve ranges up to a week, daily rows longer ones.
HOUR, DAY = "hour", "day"


class UsageSummary(models.Model):
    """HourlyUsage added up along one dimension at a time, per account and hour or UTC day.

    What the dashboard, the glance, quota alerts, overage and the staff page read: an account's
    whole traffic (dimension "account"), or per key ("key") or per endpoint group ("endpoint"),
    a few dozen rows per hour however many keys times endpoints the account has. usage.flush
    writes it in the same transaction as HourlyUsage, so it always equals HourlyUsage summed.
    """

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    span = models.CharField(max_length=4)  # HOUR or DAY
    start = models.DateTimeField()  # the hour, or midnight (UTC) of the day
    dimension = models.CharField(max_length=8)  # "account", "key" or "endpoint"
    value = models.CharField(max_length=200, blank=True)  # key_id or endpoint; "" for "account"
    environment = models.CharField(max_length=4)
    outcome = models.CharField(max_length=30)
    count = models.PositiveBigIntegerField(default=0)
    # Quota units the admitted calls consumed (calls times their endpoint's cost; 0 refused).
    units = models.PositiveBigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "span", "dimension", "start", "value", "environment", "outcome"],
                name="usage_summary_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.dimension}={self.value} {self.span} {self.start:%Y-%m-%d}"


class UsagePreferences(models.Model):
    """What a customer chose about alerts and overage for their account."""

    account = models.OneToOneField(
        "accounts.Account", on_delete=models.CASCADE, related_name="usage_preferences"
    )
    # Percentages of the period quota, on top of the built-in 80 and 100.
    extra_thresholds = models.JSONField(default=list, blank=True)
    # Stop at this much overage per period (in the plan's currency); None = no cap.
    spend_cap = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)

    def __str__(self) -> str:
        return f"usage preferences of {self.account_id}"


class QuotaAlert(models.Model):
    """A quota alert already sent: one per account, period and threshold."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField()
    threshold = models.PositiveIntegerField()
    used = models.PositiveBigIntegerField()
    quota = models.PositiveBigIntegerField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "period_start", "threshold"], name="usage_alert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.threshold}% for {self.account_id} from {self.period_start:%Y-%m-%d}"


# Upper bounds (ms) of the latency histogram buckets; the last bucket is everything slower.
LATENCY_BUCKETS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)


class EndpointHourStats(models.Model):
    """What only nginx knows once the upstream answered: status classes and latency, per hour."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    key_id = models.CharField(max_length=24)
    endpoint = models.CharField(max_length=200)
    hour = models.DateTimeField()
    status_class = models.CharField(max_length=3)  # "2xx", "4xx", "5xx"...
    count = models.PositiveBigIntegerField(default=0)
    # Calls per latency bucket (LATENCY_BUCKETS_MS, then one for slower).
    latency_histogram = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "key_id", "endpoint", "hour", "status_class"],
                name="usage_endpoint_stats_once",
            )
        ]
        indexes = [models.Index(fields=["account", "hour"])]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status_class} {self.hour:%Y-%m-%d %H}h"


# LatencySummary's histogram, one column per bucket of LATENCY_BUCKETS_MS and one for slower.
LATENCY_COLUMNS = (
    *(f"le_{bound}ms" for bound in LATENCY_BUCKETS_MS),
    f"over_{LATENCY_BUCKETS_MS[-1]}ms",
)


class LatencySummary(models.Model):
    """EndpointHourStats added up over keys, per account, endpoint group, status class and hour
    or UTC day; the histogram in columns, so the database adds it up. Written by the collector
    in the same transaction as EndpointHourStats."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    span = models.CharField(max_length=4)  # HOUR or DAY
    start = models.DateTimeField()
    endpoint = models.CharField(max_length=200)
    status_class = models.CharField(max_length=3)
    count = models.PositiveBigIntegerField(default=0)
    le_1ms = models.PositiveBigIntegerField(default=0)
    le_2ms = models.PositiveBigIntegerField(default=0)
    le_5ms = models.PositiveBigIntegerField(default=0)
    le_10ms = models.PositiveBigIntegerField(default=0)
    le_20ms = models.PositiveBigIntegerField(default=0)
    le_50ms = models.PositiveBigIntegerField(default=0)
    le_100ms = models.PositiveBigIntegerField(default=0)
    le_200ms = models.PositiveBigIntegerField(default=0)
    le_500ms = models.PositiveBigIntegerField(default=0)
    le_1000ms = models.PositiveBigIntegerField(default=0)
    le_2000ms = models.PositiveBigIntegerField(default=0)
    le_5000ms = models.PositiveBigIntegerField(default=0)
    over_5000ms = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "span", "start", "endpoint", "status_class"],
                name="usage_latency_summary_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status_class} {self.span} {self.start:%Y-%m-%d %H}h"


class LogCursor(models.Model):
    """How far a host's collector has read an access log; moved in the same transaction as the
    stats. Gateway hosts share the database and may share the log's path, not its file."""

    host = models.CharField(max_length=255)  # settings.GATEWAY_HOST_ID of the collector's host
    path = models.CharField(max_length=500)
    inode = models.PositiveBigIntegerField(default=0)
    offset = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "path"], name="usage_logcursor_host_path")
        ]

    def __str__(self) -> str:
        return f"{self.host}:{self.path}@{self.offset}"


class OverageToReport(models.Model):
    """Overage calls of a flushed batch, waiting to be sent to Stripe's Billing Meter.

    Written in the same transaction as the batch's rollups (an outbox): a crash can delay a
    meter event but never lose it; billing's MeterReport ledger makes sending it twice harmless.
    """

    batch_id = models.CharField(max_length=120, unique=True)
    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    period_start = models.DateTimeField()
    quantity = models.PositiveBigIntegerField()
    # When the calls were made (within the period): the meter event's timestamp, fixed here so
    # that every retry sends Stripe identical parameters under the same idempotency key.
    used_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.quantity} overage calls of {self.batch_id}"


class RateLimitEpisode(models.Model):
    """A stretch of time in which an account's live calls kept being refused for rate limits
    (usage/sustained.py): the customer's `rate_limit.sustained` webhook goes once per episode.

    Updated in the flush's transaction that applies a batch (once per batch, under the
    account's row lock), so a re-applied batch or a duplicate flush changes nothing.
    """

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()  # the flush that first saw a refusal of the episode
    last_refused_at = models.DateTimeField()  # the latest flush that saw one
    refused = models.PositiveBigIntegerField(default=0)
    announced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "-started_at"], name="usage_rl_episode_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} rate limited from {self.started_at:%Y-%m-%d %H:%M}"
