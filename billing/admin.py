from __future__ import annotations

from django.contrib import admin

from billing.models import MeterErrorReport


@admin.register(MeterErrorReport)
class MeterErrorReportAdmin(admin.ModelAdmin[MeterErrorReport]):
    """Meter events Stripe accepted but could not bill: overage that is on no invoice."""

    list_display = ["received_at", "error_count", "summary", "meter_id"]
    readonly_fields = [
        "event_id", "meter_id", "summary", "error_count", "errors", "validation_start",
        "validation_end", "received_at",
    ]  # fmt: skip

    def has_add_permission(self, request: object) -> bool:
        return False
