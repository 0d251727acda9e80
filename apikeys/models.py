from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.crypto import get_random_string

from apikeys import keys


def new_public_id() -> str:
    return "key_" + get_random_string(16, keys.BASE62)


class Environment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test (sandbox, never billed)"


class ApiKey(models.Model):
    """An API key of an account. The raw key is never stored: only its peppered HMAC."""

    public_id = models.CharField(max_length=24, unique=True, default=new_public_id, editable=False)
    account = models.ForeignKey(
        "accounts.Account", on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    environment = models.CharField(max_length=4, choices=Environment.choices)
    prefix = models.CharField(max_length=40, help_text="Shown to tell keys apart")
    last4 = models.CharField(max_length=4)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Set on the old key when it is rotated: it keeps working until then.
    grace_ends_at = models.DateTimeField(null=True, blank=True)
    replaced_by = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaces"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_used_ip = models.GenericIPAddressField(null=True, blank=True)
    # Restrictions; an empty list means "no restriction of this kind".
    allowed_products = models.JSONField(default=list, blank=True)  # product slugs
    allowed_path_prefixes = models.JSONField(default=list, blank=True)
    allowed_methods = models.JSONField(default=list, blank=True)
    allowed_ips = models.JSONField(default=list, blank=True)  # IPs or CIDRs
    expiry_reminder_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "environment", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…{self.last4})"

    def is_usable(self, now: timezone.datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        if self.expires_at is not None and self.expires_at <= now:
            return False
        return self.grace_ends_at is None or self.grace_ends_at > now
