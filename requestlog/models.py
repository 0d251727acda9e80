from __future__ import annotations

from django.db import models


class LoggedRequest(models.Model):
    """One API call of a known key as nginx logged it: what a customer reads to answer "why did
    my call fail" without a ticket. Written by the access-log collector in the transaction that
    moves its read offset (so once per line); pruned after REQUEST_LOG_RETENTION_DAYS."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="+")
    key_id = models.CharField(max_length=40)
    at = models.DateTimeField()
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    reason = models.CharField(max_length=30, blank=True)  # the gateway's refusal reason
    client_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["account", "-at"], name="requestlog_account_at"),
            models.Index(fields=["account", "key_id", "-at"], name="requestlog_key_at"),
            models.Index(fields=["at"], name="requestlog_at"),  # the pruning
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.status}"
