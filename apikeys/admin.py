from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apikeys.models import ApiKey, PersonalAccessToken
from portal.http import AuthenticatedHttpRequest


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin[ApiKey]):
    list_display = ["public_id", "name", "account", "environment", "masked", "created_at",
                    "expires_at", "revoked_at", "grace_ends_at", "last_used_at"]  # fmt: skip
    list_filter = ["environment"]
    search_fields = ["public_id", "prefix", "name", "account__slug"]
    raw_id_fields = ["account", "created_by", "replaced_by"]
    # Keys are issued through issue_key or the portal (which show the raw key once), not here.
    readonly_fields = ["public_id", "prefix", "last4", "created_at", "revoked_at",
                       "grace_ends_at", "replaced_by", "last_used_at", "last_used_ip",
                       "expiry_reminder_sent_at"]  # fmt: skip
    exclude = ["key_hash"]
    actions = ["revoke_selected"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys now")
    def revoke_selected(
        self, request: AuthenticatedHttpRequest, queryset: QuerySet[ApiKey]
    ) -> None:
        revoked = sum(key.revoke(actor=request.user) for key in queryset)
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(admin.ModelAdmin[PersonalAccessToken]):
    list_display = ["public_id", "name", "user", "masked", "created_at", "expires_at",
                    "revoked_at", "last_used_at"]  # fmt: skip
    search_fields = ["public_id", "prefix", "name", "user__email"]
    readonly_fields = ["public_id", "prefix", "last4", "created_at", "last_used_at"]
    exclude = ["token_hash"]
    raw_id_fields = ["user"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
