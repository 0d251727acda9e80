from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from credits.models import CreditEntry, CreditWallet, TimePass, TopUp


class ReadOnly(admin.ModelAdmin):  # type: ignore[type-arg]
    """The ledger is written by purchases, the flush and refund_credits, never by hand: a hand
    edit would part it from the gateway's Redis balance."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CreditEntry)
class CreditEntryAdmin(ReadOnly):
    list_display = ["account", "kind", "units", "day", "reference", "amount", "expires_at"]
    list_filter = ["kind"]
    search_fields = ["account__slug", "reference"]


@admin.register(CreditWallet)
class CreditWalletAdmin(ReadOnly):
    list_display = ["account", "plan", "auto_topup", "topup_pack", "topup_below"]


@admin.register(TopUp)
class TopUpAdmin(ReadOnly):
    list_display = ["account", "pack", "status", "payment_intent_id", "created_at"]
    list_filter = ["status"]


@admin.register(TimePass)
class TimePassAdmin(ReadOnly):
    list_display = ["account", "plan", "starts_at", "ends_at", "reminded_at"]
    search_fields = ["account__slug", "checkout_session_id"]
