"""The keys REST API (/api/v1/keys/…: list, create, retrieve, update, rotate, revoke) and the
personal access tokens API (/api/v1/tokens/…: list, create, revoke).

Authenticated by session or personal access token. Every error is JSON with a stable `code`.
Tokens are minted and revoked only by a signed-in person (a session), never by a token: a
leaked token must not be able to make itself a successor or lock its owner's scripts out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import membership_allowing
from accounts.models import Account, Membership
from accounts.roles import Perm
from apikeys import restrictions
from apikeys.authentication import BEARER_CHALLENGE
from apikeys.models import (
    GRACE_PERIODS,
    TOKEN_LIFETIMES,
    ApiKey,
    Environment,
    KeyActionError,
    PersonalAccessToken,
    token_expiry,
)
from core.audit import AuditContext
from portal.api_errors import (
    ACCOUNT_NOT_FOUND,
    NOT_AUTHENTICATED,
    error_example,
    error_response,
    invalid,
)
from portal.api_errors import api_exception_handler as portal_exception_handler
from portal.http import AuthenticatedRequest


class KeyConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """The portal's error shape, with key verbs' refusals as 409 conflicts."""
    if isinstance(exc, KeyActionError):
        exc = KeyConflict(exc.message, exc.code)
    return portal_exception_handler(exc, context)


class RestrictionsInput(serializers.Serializer[dict[str, Any]]):
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

    def validate_expires_at(self, value: datetime | None) -> datetime | None:
        # As on the keys page: a key born expired would only confuse its owner.
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError("Pick a time in the future.")
        return value


class RotateInput(serializers.Serializer[dict[str, Any]]):
    grace = serializers.ChoiceField(choices=list(GRACE_PERIODS), default="none")


class KeyOutput(serializers.ModelSerializer[ApiKey]):
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


# --- what the schema shows: examples and the errors each operation can answer ---------------
# Example secrets have the right shape but a wrong checksum, so no scanner takes them for leaks.
KEY_EXAMPLE: dict[str, Any] = {
    "id": "key_3fQz9aX1bC2dE4fG",
    "account": "acme",
    "name": "Production",
    "environment": "live",
    "prefix": "tg_live_3fQz",
    "last4": "Xa9c",
    "status": "active",
    "created_by": "ada@acme.example",
    "created_at": "2026-11-02T10:00:00Z",
    "expires_at": None,
    "revoked_at": None,
    "grace_ends_at": None,
    "replaced_by": None,
    "last_used_at": "2026-11-20T08:14:03Z",
    "last_used_ip": "203.0.113.7",
    "allowed_products": ["demo"],
    "allowed_path_prefixes": [],
    "allowed_methods": ["GET"],
    "allowed_ips": [],
}
NEW_SECRET = "tg_live_7Hq2WkT9cVb3ZrN8mLp4XsD1fGy6JaE5_3kP9qZ"
NEW_KEY_EXAMPLE = {
    **KEY_EXAMPLE,
    "id": "key_9LmN2pQ4rS6tU8vW",
    "prefix": "tg_live_7Hq2",
    "last4": "P9qZ",
    "created_at": "2026-11-21T09:00:00Z",
    "last_used_at": None,
    "last_used_ip": None,
    "secret": NEW_SECRET,
}
KEY_NOT_FOUND = error_response(
    "No such key, or not in an account where you may manage keys",
    error_example("not_found", "No such key"),
)
KEY_FORBIDDEN = error_response(
    "Your role cannot manage keys in that account (owners, admins and developers can)",
    error_example("permission_denied", "Your role (Billing) cannot do this."),
)


def _with_secret(key: ApiKey, raw: str, **extra: Any) -> dict[str, Any]:
    return {**KeyOutput(key).data, "secret": raw, **extra}


class KeysAPIView(GenericAPIView[ApiKey]):
    request: AuthenticatedRequest

    def get_exception_handler(self) -> Any:
        return api_exception_handler

    def get_authenticate_header(self, request: Request) -> str:
        # Unauthenticated calls get 401 with a Bearer challenge, not DRF's session-style 403.
        return BEARER_CHALLENGE

    def membership_for(self, account_slug: str) -> Membership:
        return membership_allowing(self.request.user, account_slug, Perm.MANAGE_KEYS)

    def get_key(self, key_id: str) -> ApiKey:
        key = (
            ApiKey.objects.select_related("account", "created_by", "replaced_by")
            .filter(
                public_id=key_id,
                account__closed_at__isnull=True,
                account__memberships__user=self.request.user,
            )
            .first()
        )
        if key is None:
            raise Http404("No such key")
        self.membership_for(key.account.slug)
        return key


class KeyListQuery(serializers.Serializer[dict[str, Any]]):
    account = serializers.SlugField(
        required=False, allow_blank=True, help_text="Only this account's keys"
    )


class KeyListCreate(KeysAPIView):
    serializer_class = KeyOutput

    def get_queryset(self) -> QuerySet[ApiKey]:
        queryset = ApiKey.objects.for_manager(self.request.user)
        query = KeyListQuery(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        account_slug = query.validated_data.get("account")
        if account_slug:
            queryset = queryset.filter(account=self.membership_for(account_slug).account)
        return queryset.select_related("account", "created_by", "replaced_by").distinct()

    @extend_schema(
        operation_id="keys_list",
        summary="Your keys",
        description="Keys of every account where you may manage keys, or of one `account`.",
        parameters=[KeyListQuery],
        responses={
            200: KeyOutput(many=True),
            400: invalid(
                account=[
                    'Enter a valid "slug" consisting of letters, numbers, underscores or hyphens.'
                ]
            ),
            401: NOT_AUTHENTICATED,
            403: KEY_FORBIDDEN,
            404: ACCOUNT_NOT_FOUND,
        },
        examples=[OpenApiExample("A live key", value=KEY_EXAMPLE, response_only=True)],
        tags=["keys"],
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(KeyOutput(page, many=True).data)

    @extend_schema(
        operation_id="keys_create",
        summary="Create a key",
        description="The answer carries the raw key in `secret`, once: store it now.",
        request=CreateInput,
        responses={
            201: CreatedKeyOutput,
            400: invalid(allowed_methods=["Unknown HTTP method: FETCH. Use GET, HEAD, …"]),
            401: NOT_AUTHENTICATED,
            403: KEY_FORBIDDEN,
            404: ACCOUNT_NOT_FOUND,
            409: error_response(
                "The plan's key limit is reached",
                error_example(
                    "key_limit_reached",
                    "This account may have 2 working live keys; revoke one before creating "
                    "another.",
                ),
            ),
        },
        examples=[
            OpenApiExample(
                "A read-only live key",
                value={
                    "account": "acme",
                    "name": "Production",
                    "environment": "live",
                    "allowed_products": ["demo"],
                    "allowed_methods": ["GET"],
                },
                request_only=True,
            ),
            OpenApiExample("Created", value=NEW_KEY_EXAMPLE, response_only=True),
        ],
        tags=["keys"],
    )
    def post(self, request: AuthenticatedRequest) -> Response:
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
            audit_context=AuditContext.of(request),
        )
        return Response(_with_secret(key, raw), status=status.HTTP_201_CREATED)

    def _account(self, slug: str | None) -> Account:
        if slug:
            return self.membership_for(slug).account
        personal = Account.objects.for_user(self.request.user).filter(is_personal=True).first()
        if personal is None:
            raise Http404("No personal account; name one with “account”.")
        return self.membership_for(personal.slug).account


class KeyDetail(KeysAPIView):
    serializer_class = KeyOutput

    @extend_schema(
        operation_id="keys_retrieve",
        summary="One key",
        responses={200: KeyOutput, 401: NOT_AUTHENTICATED, 403: KEY_FORBIDDEN, 404: KEY_NOT_FOUND},
        examples=[OpenApiExample("A live key", value=KEY_EXAMPLE, response_only=True)],
        tags=["keys"],
    )
    def get(self, request: Request, key_id: str) -> Response:
        return Response(KeyOutput(self.get_key(key_id)).data)

    @extend_schema(
        operation_id="keys_update",
        summary="Rename a key or change its restrictions",
        description="Fields left out stay as they are; an empty list lifts that restriction.",
        request=RestrictionsInput,
        responses={
            200: KeyOutput,
            400: invalid(allowed_ips=["Not an IP address or CIDR range: 10.0.0.300"]),
            401: NOT_AUTHENTICATED,
            403: KEY_FORBIDDEN,
            404: KEY_NOT_FOUND,
            409: error_response(
                "The key is revoked",
                error_example("key_not_active", "A revoked key cannot be edited."),
            ),
        },
        examples=[
            OpenApiExample(
                "Only from the office",
                value={"allowed_ips": ["203.0.113.0/24"]},
                request_only=True,
            ),
            OpenApiExample(
                "Updated",
                value={**KEY_EXAMPLE, "allowed_ips": ["203.0.113.0/24"]},
                response_only=True,
            ),
        ],
        tags=["keys"],
    )
    def patch(self, request: AuthenticatedRequest, key_id: str) -> Response:
        key = self.get_key(key_id)
        data = RestrictionsInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        key.update_details(
            data.validated_data, actor=request.user, audit_context=AuditContext.of(request)
        )
        return Response(KeyOutput(key).data)


class KeyRotate(KeysAPIView):
    # The request body's shape (for the browsable API); stubs want a serializer of ApiKey here.
    serializer_class = RotateInput  # type: ignore[assignment]

    @extend_schema(
        operation_id="keys_rotate",
        summary="Rotate a key",
        description=(
            "Issues a successor with the same name and restrictions; the old key keeps working "
            "for the `grace` window. The answer carries the new raw key in `secret`, once."
        ),
        request=RotateInput,
        responses={
            201: RotatedKeyOutput,
            400: invalid(grace=["“2d” is not a valid choice."]),
            401: NOT_AUTHENTICATED,
            403: KEY_FORBIDDEN,
            404: KEY_NOT_FOUND,
            409: error_response(
                "The key is not working, or was rotated already",
                error_example(
                    "key_not_active",
                    "Only a working key that has not been rotated already can be rotated.",
                ),
            ),
        },
        examples=[
            OpenApiExample("A day to switch over", value={"grace": "24h"}, request_only=True),
            OpenApiExample(
                "Rotated",
                value={
                    **NEW_KEY_EXAMPLE,
                    "replaces": {
                        **KEY_EXAMPLE,
                        "status": "retiring",
                        "grace_ends_at": "2026-11-22T09:00:00Z",
                        "replaced_by": NEW_KEY_EXAMPLE["id"],
                    },
                },
                response_only=True,
            ),
        ],
        tags=["keys"],
    )
    def post(self, request: AuthenticatedRequest, key_id: str) -> Response:
        key = self.get_key(key_id)
        data = RotateInput(data=request.data)
        data.is_valid(raise_exception=True)
        new, raw = key.rotate(
            GRACE_PERIODS[data.validated_data["grace"]],
            actor=request.user,
            audit_context=AuditContext.of(request),
        )
        body = _with_secret(new, raw, replaces=KeyOutput(key).data)
        return Response(body, status=status.HTTP_201_CREATED)


class KeyRevoke(KeysAPIView):
    serializer_class = KeyOutput

    @extend_schema(
        operation_id="keys_revoke",
        summary="Revoke a key",
        description="It stops working at once, everywhere. Revoking a revoked key changes nothing.",
        request=None,
        responses={200: KeyOutput, 401: NOT_AUTHENTICATED, 403: KEY_FORBIDDEN, 404: KEY_NOT_FOUND},
        examples=[
            OpenApiExample(
                "Revoked",
                value={**KEY_EXAMPLE, "status": "revoked", "revoked_at": "2026-11-21T09:30:00Z"},
                response_only=True,
            )
        ],
        tags=["keys"],
    )
    def post(self, request: AuthenticatedRequest, key_id: str) -> Response:
        key = self.get_key(key_id)
        key.revoke(actor=request.user, audit_context=AuditContext.of(request))
        return Response(KeyOutput(key).data)


# --- personal access tokens -------------------------------------------------------------------
class TokenOutput(serializers.ModelSerializer[PersonalAccessToken]):
    id = serializers.CharField(source="public_id")
    current = serializers.SerializerMethodField(
        help_text="True for the token that authenticates this request"
    )

    class Meta:
        model = PersonalAccessToken
        fields = [
            "id", "name", "prefix", "last4", "created_at", "expires_at", "last_used_at",
            "revoked_at", "current",
        ]  # fmt: skip

    def get_current(self, token: PersonalAccessToken) -> bool:
        auth = self.context["request"].auth
        return isinstance(auth, PersonalAccessToken) and auth.pk == token.pk


class CreatedTokenOutput(TokenOutput):
    secret = serializers.CharField(help_text="The raw token. Shown in this response only.")

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "secret"]


class TokenInput(serializers.Serializer[dict[str, Any]]):
    name = serializers.CharField(max_length=100, help_text="What uses it, e.g. “CI deploy script”")
    expires_in_days = serializers.ChoiceField(
        choices=list(TOKEN_LIFETIMES), default=90, help_text="0: it never expires"
    )


TOKEN_EXAMPLE: dict[str, Any] = {
    "id": "pat_4kLm8NpQ2rSt6UvW",
    "name": "CI deploy script",
    "prefix": "tg_pat_9ZyX",
    "last4": "Q7wE",
    "created_at": "2026-11-02T10:00:00Z",
    "expires_at": "2027-01-31T10:00:00Z",
    "last_used_at": "2026-11-20T08:14:03Z",
    "revoked_at": None,
    "current": True,
}
SESSION_REQUIRED = error_response(
    "Tokens are made and revoked by a signed-in person, not by a token (or the session's "
    "CSRF check failed)",
    error_example(
        "session_required",
        "Sign in to the portal to create or revoke tokens; a token cannot manage tokens.",
    ),
)
TOKEN_NOT_FOUND = error_response(
    "No such token of yours", error_example("not_found", "No such token")
)


def require_session(request: Request) -> None:
    if isinstance(request.auth, PersonalAccessToken):
        raise PermissionDenied(
            "Sign in to the portal to create or revoke tokens; a token cannot manage tokens.",
            "session_required",
        )


class TokenListCreate(GenericAPIView[PersonalAccessToken]):
    request: AuthenticatedRequest

    serializer_class = TokenOutput

    def get_queryset(self) -> QuerySet[PersonalAccessToken]:
        return PersonalAccessToken.objects.active().filter(user=self.request.user)

    @extend_schema(
        operation_id="tokens_list",
        summary="Your personal access tokens",
        description="The tokens that work now (not revoked, not expired), newest first.",
        responses={200: TokenOutput(many=True), 401: NOT_AUTHENTICATED},
        examples=[OpenApiExample("A token", value=TOKEN_EXAMPLE, response_only=True)],
        tags=["tokens"],
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="tokens_create",
        summary="Create a personal access token",
        description=(
            "Signed-in sessions only (send the CSRF token). The answer carries the raw token in "
            "`secret`: store it, it is never shown again. Recorded as `token.created`."
        ),
        request=TokenInput,
        responses={
            201: CreatedTokenOutput,
            400: invalid(expires_in_days=["“7” is not a valid choice."]),
            401: NOT_AUTHENTICATED,
            403: SESSION_REQUIRED,
        },
        examples=[
            OpenApiExample(
                "For CI, 90 days",
                value={"name": "CI deploy script", "expires_in_days": 90},
                request_only=True,
            ),
            OpenApiExample(
                "Created",
                value={
                    **TOKEN_EXAMPLE,
                    "last_used_at": None,
                    "current": False,
                    "secret": "tg_pat_9ZyXw2Vb5Nm8Lk3Jh6Gf4Ds1Aq0Pz7Xc_tRQ7wE",
                },
                response_only=True,
            ),
        ],
        tags=["tokens"],
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        require_session(request)
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = PersonalAccessToken.objects.issue(
            request.user,
            name=data.validated_data["name"],
            expires_at=token_expiry(data.validated_data["expires_in_days"]),
            audit_context=AuditContext.of(request),
        )
        body = {**self.get_serializer(token).data, "secret": raw}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenRevoke(GenericAPIView[PersonalAccessToken]):
    request: AuthenticatedRequest

    serializer_class = TokenOutput

    @extend_schema(
        operation_id="tokens_revoke",
        summary="Revoke a personal access token",
        description=(
            "Signed-in sessions only. Scripts using the token stop working at once; revoking a "
            "revoked token changes nothing. Recorded as `token.revoked`."
        ),
        request=None,
        responses={
            200: TokenOutput,
            401: NOT_AUTHENTICATED,
            403: SESSION_REQUIRED,
            404: TOKEN_NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "Revoked",
                value={**TOKEN_EXAMPLE, "current": False, "revoked_at": "2026-11-21T09:30:00Z"},
                response_only=True,
            )
        ],
        tags=["tokens"],
    )
    def post(self, request: AuthenticatedRequest, token_id: str) -> Response:
        require_session(request)
        token = PersonalAccessToken.objects.filter(user=request.user, public_id=token_id).first()
        if token is None:
            raise Http404("No such token")
        token.revoke(audit_context=AuditContext.of(request))
        return Response(self.get_serializer(token).data)
