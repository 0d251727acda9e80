from __future__ import annotations

from django.contrib import admin

from billing.models import MeterErrorReport, PlanChange


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


@admin.register(PlanChange)
class PlanChangeAdmin(admin.ModelAdmin[PlanChange]):
    """The plan history the seller console's MRR movement sums: written by billing, read here."""

    list_display = ["at", "account", "kind", "previous_mrr", "mrr", "plan", "source"]
    list_filter = ["kind", "source"]
    search_fields = ["account__slug", "account__name", "reference"]
    date_hierarchy = "at"

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: object, obj: object = None) -> bool:
        return False
