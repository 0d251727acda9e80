"""The accounts REST API: /api/v1/accounts/… (your accounts, one account, rename, its members).

The same rules as the account pages: a person who is not a member gets 404, a member whose role
lacks the permission gets 403 `permission_denied`, and a rename goes through `Account.rename`,
so it writes the same audit event as the page does.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import membership_allowing
from accounts.models import Membership
from accounts.roles import Perm, Role
from catalog.models import Plan
from core.audit import AuditContext
from portal.api_errors import (
    ACCOUNT_NOT_FOUND,
    NOT_AUTHENTICATED,
    error_example,
    error_response,
    invalid,
)
from portal.http import AuthenticatedRequest


class PlanOutput(serializers.Serializer[Plan]):
    slug = serializers.CharField()
    name = serializers.CharField()


class AccountOutput(serializers.Serializer[Membership]):
    """An account as one member sees it: read from their Membership, so it carries their role."""

    slug = serializers.CharField(source="account.slug")
    name = serializers.CharField(source="account.name")
    is_personal = serializers.BooleanField(source="account.is_personal")
    role = serializers.ChoiceField(choices=Role.choices, help_text="Your role in this account")
    permissions = serializers.SerializerMethodField(help_text="What your role lets you do here")
    plan = PlanOutput(
        source="account.effective_plan",
        allow_null=True,
        help_text="The plan in force: the subscription's, else the catalog's default",
    )
    created_at = serializers.DateTimeField(source="account.created_at")

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=list(Perm))))
    def get_permissions(self, membership: Membership) -> list[str]:
        return [perm.value for perm in Perm if membership.can(perm)]


class RenameInput(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=100)


class MemberOutput(serializers.Serializer[Membership]):
    id = serializers.IntegerField()
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.get_full_name", help_text="Empty if not given")
    role = serializers.ChoiceField(choices=Role.choices)
    joined_at = serializers.DateTimeField(source="created_at")


ACCOUNT_EXAMPLE = {
    "slug": "acme",
    "name": "Acme",
    "is_personal": False,
    "role": "owner",
    "permissions": [perm.value for perm in Perm],
    "plan": {"slug": "pro", "name": "Pro"},
    "created_at": "2026-10-01T09:30:00Z",
}
FORBIDDEN_RENAME = error_response(
    "Your role cannot rename the account (owners only)",
    error_example("permission_denied", "Your role (Admin) cannot do this."),
)


class AccountsAPIView(GenericAPIView[Membership]):
    request: AuthenticatedRequest

    def membership(self, perm: Perm) -> Membership:
        return membership_allowing(self.request.user, self.kwargs["account_slug"], perm)


class AccountList(AccountsAPIView):
    serializer_class = AccountOutput

    def get_queryset(self) -> QuerySet[Membership]:
        return (
            Membership.objects.filter(user=self.request.user, account__closed_at__isnull=True)
            .select_related("account", "account__plan")
            .order_by("-account__is_personal", "account__name", "account_id")
        )

    @extend_schema(
        operation_id="accounts_list",
        summary="Your accounts",
        description="Every open account you belong to (your personal one first), with your role.",
        responses={200: AccountOutput(many=True), 401: NOT_AUTHENTICATED},
        examples=[OpenApiExample("Your accounts", value=ACCOUNT_EXAMPLE, response_only=True)],
        tags=["accounts"],
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        # The stubs let only ModelSerializer take a list (many=True) of instances.
        return self.get_paginated_response(AccountOutput(page, many=True).data)  # type: ignore[arg-type]


class AccountDetail(AccountsAPIView):
    serializer_class = AccountOutput

    @extend_schema(
        operation_id="accounts_retrieve",
        summary="One account",
        responses={200: AccountOutput, 401: NOT_AUTHENTICATED, 404: ACCOUNT_NOT_FOUND},
        examples=[OpenApiExample("A team account", value=ACCOUNT_EXAMPLE, response_only=True)],
        tags=["accounts"],
    )
    def get(self, request: Request, account_slug: str) -> Response:
        return Response(AccountOutput(self.membership(Perm.VIEW_MEMBERS)).data)

    @extend_schema(
        operation_id="accounts_update",
        summary="Rename an account",
        description="Owners only, as on the account page; recorded as `account.renamed`.",
        request=RenameInput,
        responses={
            200: AccountOutput,
            400: invalid(name=["This field may not be blank."]),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN_RENAME,
            404: ACCOUNT_NOT_FOUND,
        },
        examples=[
            OpenApiExample("New name", value={"name": "Acme Inc."}, request_only=True),
            OpenApiExample(
                "Renamed", value={**ACCOUNT_EXAMPLE, "name": "Acme Inc."}, response_only=True
            ),
        ],
        tags=["accounts"],
    )
    def patch(self, request: Request, account_slug: str) -> Response:
        membership = self.membership(Perm.MANAGE_ACCOUNT)
        data = RenameInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "name" in data.validated_data:
            name = data.validated_data["name"]
            membership.account.rename(name, by=membership, audit_context=AuditContext.of(request))
        return Response(AccountOutput(membership).data)


class MemberList(AccountsAPIView):
    serializer_class = MemberOutput

    @extend_schema(
        operation_id="accounts_members_list",
        summary="An account's members",
        responses={
            200: MemberOutput(many=True),
            401: NOT_AUTHENTICATED,
            404: ACCOUNT_NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "A member",
                value={
                    "id": 42,
                    "email": "ada@acme.example",
                    "name": "Ada Lovelace",
                    "role": "developer",
                    "joined_at": "2026-10-02T14:05:00Z",
                },
                response_only=True,
            )
        ],
        tags=["accounts"],
    )
    def get(self, request: Request, account_slug: str) -> Response:
        account = self.membership(Perm.VIEW_MEMBERS).account
        members = account.memberships.select_related("user").order_by("user__email", "id")
        page = self.paginate_queryset(members)
        # The stubs let only ModelSerializer take a list (many=True) of instances.
        return self.get_paginated_response(MemberOutput(page, many=True).data)  # type: ignore[arg-type]
