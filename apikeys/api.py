"""The keys REST API: /api/v1/keys/… (list, create, retrieve, update, rotate, revoke).

Authenticated by session or personal access token. Every error is JSON with a stable `code`.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import get_membership_for_user, require
from accounts.models import Account, Membership
from accounts.roles import Perm
from apikeys import restrictions
from apikeys.authentication import BEARER_CHALLENGE
from apikeys.models import GRACE_PERIODS, ApiKey, Environment, KeyActionError
from portal.api_errors import ApiErrorSerializer
from portal.api_errors import api_exception_handler as portal_exception_handler


class KeyConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The portal's error shape, with key verbs' refusals as 409 conflicts."""
    if isinstance(exc, KeyActionError):
        exc = KeyConflict(exc.message, exc.code)
    return portal_exception_handler(exc, context)


class RestrictionsInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    allowed_products = serializers.ListField(child=serializers.CharField(), required=False)
    allowed_path_prefixes = serializers.ListField(child=serializers.CharField(), required=False)
    allowed_methods = serializers.ListField(child=serializers.CharField(), required=False)
    allowed_ips = serializers.ListField(child=serializers.CharField(), required=False)

    def validate_allowed_products(self, value: list[str]) -> list[str]:
        return restrictions.clean_products(value)

    def validate_allowed_path_prefixes(self, value: list[str]) -> list[str]:
        return restrictions.clean_path_prefixes(value)

    def validate_allowed_methods(self, value: list[str]) -> list[str]:
        return restrictions.clean_methods(value)

    def validate_allowed_ips(self, value: list[str]) -> list[str]:
        return restrictions.clean_ips(value)


class CreateInput(RestrictionsInput):
    name = serializers.CharField(max_length=100)
    account = serializers.SlugField(required=False, help_text="Default: your personal account")
    environment = serializers.ChoiceField(choices=Environment.choices, default=Environment.LIVE)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class RotateInput(serializers.Serializer):
    grace = serializers.ChoiceField(choices=list(GRACE_PERIODS), default="none")


class KeyOutput(serializers.ModelSerializer):
    id = serializers.CharField(source="public_id")
    account = serializers.CharField(source="account.slug")
    created_by = serializers.EmailField(source="created_by.email", default=None, allow_null=True)
    replaced_by = serializers.CharField(
        source="replaced_by.public_id", default=None, allow_null=True
    )
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id", "account", "name", "environment", "prefix", "last4", "status",
            "created_by", "created_at", "expires_at", "revoked_at", "grace_ends_at",
            "replaced_by", "last_used_at", "last_used_ip", "allowed_products",
            "allowed_path_prefixes", "allowed_methods", "allowed_ips",
        ]  # fmt: skip

    @extend_schema_field(
        serializers.ChoiceField(choices=["active", "retiring", "expired", "revoked"])
    )
    def get_status(self, key: ApiKey) -> str:
        return key.status()


class CreatedKeyOutput(KeyOutput):
    secret = serializers.CharField(help_text="The raw key. Shown in this response only.")

    class Meta(KeyOutput.Meta):
        fields = [*KeyOutput.Meta.fields, "secret"]


class RotatedKeyOutput(CreatedKeyOutput):
    replaces = KeyOutput(help_text="The old key, now retiring or revoked")

    class Meta(CreatedKeyOutput.Meta):
        fields = [*CreatedKeyOutput.Meta.fields, "replaces"]


ERROR = ApiErrorSerializer
ERRORS = {400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR}


def _with_secret(key: ApiKey, raw: str, **extra: Any) -> dict[str, Any]:
    return {**KeyOutput(key).data, "secret": raw, **extra}


class KeysAPIView(GenericAPIView):  # type: ignore[type-arg]
    def get_exception_handler(self) -> Any:
        return api_exception_handler

    def get_authenticate_header(self, request: Request) -> str:
        # Unauthenticated calls get 401 with a Bearer challenge, not DRF's session-style 403.
        return BEARER_CHALLENGE

    def membership_for(self, account_slug: str) -> Membership:
        membership = get_membership_for_user(self.request.user, account_slug)  # type: ignore[arg-type]
        require(membership, Perm.MANAGE_KEYS)
        return membership

    def get_key(self, key_id: str) -> ApiKey:
        key = get_object_or_404(
            ApiKey.objects.select_related("account", "created_by", "replaced_by"),
            public_id=key_id,
            account__closed_at__isnull=True,
            account__memberships__user=self.request.user,
        )
        self.membership_for(key.account.slug)
        return key


class KeyListCreate(KeysAPIView):
    serializer_class = KeyOutput

    def get_queryset(self) -> QuerySet[ApiKey]:
        queryset = ApiKey.objects.for_manager(self.request.user)  # type: ignore[arg-type]
        account_slug = self.request.query_params.get("account")
        if account_slug:
            queryset = queryset.filter(account=self.membership_for(account_slug).account)
        return queryset.select_related("account", "created_by", "replaced_by").distinct()

    @extend_schema(
        operation_id="keys_list",
        parameters=[OpenApiParameter("account", str, description="Only this account's keys")],
        responses={200: KeyOutput(many=True), **ERRORS},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(KeyOutput(page, many=True).data)

    @extend_schema(
        operation_id="keys_create",
        request=CreateInput,
        responses={201: CreatedKeyOutput, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        data = CreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        account = self._account(values.pop("account", None))
        key, raw = ApiKey.objects.issue(
            account,
            name=values.pop("name"),
            environment=values.pop("environment"),
            expires_at=values.pop("expires_at", None),
            created_by=request.user,
            restrictions=values,
            request=request,
        )
        return Response(_with_secret(key, raw), status=status.HTTP_201_CREATED)

    def _account(self, slug: str | None) -> Account:
        if slug:
            return self.membership_for(slug).account
        personal = Account.objects.for_user(self.request.user).filter(is_personal=True).first()  # type: ignore[arg-type]
        if personal is None:
            raise Http404("No personal account; name one with “account”.")
        return self.membership_for(personal.slug).account


class KeyDetail(KeysAPIView):
    serializer_class = KeyOutput

    @extend_schema(operation_id="keys_retrieve", responses={200: KeyOutput, **ERRORS})
    def get(self, request: Request, key_id: str) -> Response:
        return Response(KeyOutput(self.get_key(key_id)).data)

    @extend_schema(
        operation_id="keys_update",
        request=RestrictionsInput,
        responses={200: KeyOutput, **ERRORS},
    )
    def patch(self, request: Request, key_id: str) -> Response:
        key = self.get_key(key_id)
        data = RestrictionsInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        key.update_details(data.validated_data, actor=request.user, request=request)
        return Response(KeyOutput(key).data)


class KeyRotate(KeysAPIView):
    serializer_class = RotateInput

    @extend_schema(
        operation_id="keys_rotate",
        request=RotateInput,
        responses={201: RotatedKeyOutput, **ERRORS},
    )
    def post(self, request: Request, key_id: str) -> Response:
        key = self.get_key(key_id)
        data = RotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        new, raw = key.rotate(
            GRACE_PERIODS[data.validated_data["grace"]], actor=request.user, request=request
        )
        body = _with_secret(new, raw, replaces=KeyOutput(key).data)
        return Response(body, status=status.HTTP_201_CREATED)


class KeyRevoke(KeysAPIView):
    serializer_class = KeyOutput

    @extend_schema(operation_id="keys_revoke", request=None, responses={200: KeyOutput, **ERRORS})
    def post(self, request: Request, key_id: str) -> Response:
        key = self.get_key(key_id)
        key.revoke(actor=request.user, request=request)
        return Response(KeyOutput(key).data)
