"""The webhooks REST API: /api/v1/accounts/<slug>/webhooks/… (endpoints, their secret, test
events, the delivery log and resends). Owners and admins (`MANAGE_WEBHOOKS`), as on the pages;
the same verbs as the pages, so the same audit events."""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.access import membership_allowing
from accounts.roles import Perm
from core.audit import AuditContext
from portal.api_errors import (
    ACCOUNT_NOT_FOUND,
    INVALID_DETAIL,
    NOT_AUTHENTICATED,
    error_example,
    error_response,
)
from portal.http import AuthenticatedRequest
from webhooks import delivery, endpoints, targets
from webhooks.models import SUBSCRIBABLE, Delivery, Endpoint


def event_type_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=[t.value for t in SUBSCRIBABLE])


class EndpointInput(serializers.Serializer[dict[str, Any]]):
    url = serializers.URLField(max_length=2000, help_text="https://, on a public address")
    event_types = serializers.ListField(child=event_type_field(), allow_empty=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)

    def validate_url(self, url: str) -> str:
        try:
            targets.check(url)
        except targets.UnsafeTarget as exc:
            raise serializers.ValidationError(str(exc), code=exc.code) from exc
        return url


class EndpointOutput(serializers.Serializer[Endpoint]):
    id = serializers.CharField(source="public_id")
    url = serializers.URLField()
    description = serializers.CharField()
    event_types = serializers.ListField(child=event_type_field())
    enabled = serializers.BooleanField(source="is_enabled")
    disabled_reason = serializers.CharField(help_text="Empty while enabled")
    created_at = serializers.DateTimeField()


class NewSecretOutput(EndpointOutput):
    secret = serializers.CharField(help_text="The signing secret; never shown again")


class DeliveryOutput(serializers.Serializer[Delivery]):
    id = serializers.IntegerField()
    event_id = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    event_created_at = serializers.DateTimeField(source="event.created_at")
    status = serializers.CharField(help_text="pending (retries to come), succeeded or failed")
    attempts = serializers.IntegerField()
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    response_status = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    duration_ms = serializers.IntegerField(allow_null=True)


ENDPOINT_EXAMPLE = {
    "id": "we_3kTq9ZxYw2mPa8Rb",
    "url": "https://hooks.acme.example/tollgate",
    "description": "CRM",
    "event_types": ["key.revoked", "quota.exhausted"],
    "enabled": True,
    "disabled_reason": "",
    "created_at": "2026-11-28T09:30:00Z",
}
SECRET_EXAMPLE = {**ENDPOINT_EXAMPLE, "secret": "whsec_Q2hhbmdlIG1lIGluIHRoZSBwb3J0YWwgcGxlYXNl"}
DELIVERY_EXAMPLE = {
    "id": 812,
    "event_id": "evt_Zk2b0xQw9Lr1TmYc4Hn8",
    "event_type": "key.revoked",
    "event_created_at": "2026-11-28T09:31:00Z",
    "status": "succeeded",
    "attempts": 1,
    "last_attempt_at": "2026-11-28T09:31:01Z",
    "next_attempt_at": None,
    "response_status": 200,
    "error": "",
    "duration_ms": 84,
}
FORBIDDEN = error_response(
    "Your role cannot manage webhooks (owners and admins)",
    error_example("permission_denied", "Your role (Developer) cannot do this."),
)
NOT_FOUND = error_response(
    "No such account, endpoint or delivery, or you are not a member of the account",
    error_example("not_found", "No Endpoint matches the given query."),
)
INVALID_ENDPOINT = error_response(
    "Invalid input (`errors` has the messages per field), a body that is not JSON, a URL the "
    "account already has (`duplicate_url`), or one endpoint more than an account may have "
    "(`too_many_endpoints`)",
    error_example(
        "invalid",
        INVALID_DETAIL,
        {"url": ["hooks.internal resolves to 10.0.0.7, which is not a public address."]},
    ),
    error_example("parse_error", "JSON parse error - Expecting value: line 1 column 1 (char 0)"),
    error_example("duplicate_url", "This account already has an endpoint with this URL."),
    error_example(
        "too_many_endpoints",
        "An account may have 16 webhook endpoints; delete one before adding another.",
    ),
)
TOO_MANY_SENDS = error_response(
    "Test events and resends of this endpoint came too often; `Retry-After` says when to retry",
    error_example(
        "too_many_sends",
        "This endpoint has been sent as many test events and resends as it may in a minute; "
        "try again in 42 seconds.",
    ),
)
ERRORS = {401: NOT_AUTHENTICATED, 403: FORBIDDEN, 404: ACCOUNT_NOT_FOUND}
ENDPOINT_ERRORS = {**ERRORS, 404: NOT_FOUND}
INPUT_EXAMPLE = OpenApiExample(
    "An endpoint",
    value={k: ENDPOINT_EXAMPLE[k] for k in ("url", "event_types", "description")},
    request_only=True,
)


class EndpointRefusedError(APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"


class TooManySendsError(APIException):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = "too_many_sends"

    def __init__(self, refused: delivery.TooManySends) -> None:
        super().__init__(refused.message)
        self.wait = refused.retry_after  # DRF's exception handler makes it Retry-After


class WebhooksAPIView(GenericAPIView[Endpoint]):
    request: AuthenticatedRequest
    serializer_class = EndpointOutput

    def account_membership(self) -> Any:
        return membership_allowing(
            self.request.user, self.kwargs["account_slug"], Perm.MANAGE_WEBHOOKS
        )

    def endpoint(self) -> Endpoint:
        account = self.account_membership().account
        return get_object_or_404(Endpoint, account=account, public_id=self.kwargs["endpoint_id"])


class EndpointList(WebhooksAPIView):
    @extend_schema(
        operation_id="webhooks_list",
        summary="An account's webhook endpoints",
        responses={200: EndpointOutput(many=True), **ERRORS},
        examples=[OpenApiExample("An endpoint", value=ENDPOINT_EXAMPLE, response_only=True)],
        tags=["webhooks"],
    )
    def get(self, request: Request, account_slug: str) -> Response:
        account = self.account_membership().account
        page = self.paginate_queryset(account.webhook_endpoints.order_by("-created_at", "-pk"))
        # The stubs let only ModelSerializer take a list (many=True) of instances.
        return self.get_paginated_response(EndpointOutput(page, many=True).data)  # type: ignore[arg-type]

    @extend_schema(
        operation_id="webhooks_create",
        summary="Register an endpoint",
        description="Answers with the signing secret, which is never shown again.",
        request=EndpointInput,
        responses={201: NewSecretOutput, 400: INVALID_ENDPOINT, **ERRORS},
        examples=[
            INPUT_EXAMPLE,
            OpenApiExample(
                "Registered", value=SECRET_EXAMPLE, response_only=True, status_codes=[201]
            ),
        ],
        tags=["webhooks"],
    )
    def post(self, request: Request, account_slug: str) -> Response:
        membership = self.account_membership()
        data = EndpointInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            endpoint = endpoints.create(
                membership.account,
                self.request.user,
                AuditContext.of(request._request),
                **data.validated_data,
            )
        except endpoints.EndpointRefused as refused:
            raise EndpointRefusedError(refused.message, refused.code) from refused
        body = {**EndpointOutput(endpoint).data, "secret": endpoint.secret}
        return Response(body, status=status.HTTP_201_CREATED)


class EndpointDetail(WebhooksAPIView):
    @extend_schema(
        operation_id="webhooks_retrieve",
        summary="One endpoint",
        responses={200: EndpointOutput, **ENDPOINT_ERRORS},
        examples=[OpenApiExample("An endpoint", value=ENDPOINT_EXAMPLE, response_only=True)],
        tags=["webhooks"],
    )
    def get(self, request: Request, account_slug: str, endpoint_id: str) -> Response:
        return Response(EndpointOutput(self.endpoint()).data)

    @extend_schema(
        operation_id="webhooks_update",
        summary="Change an endpoint's URL, events or description",
        request=EndpointInput,
        responses={200: EndpointOutput, 400: INVALID_ENDPOINT, **ENDPOINT_ERRORS},
        examples=[
            OpenApiExample(
                "Fewer events", value={"event_types": ["invoice.paid"]}, request_only=True
            ),
            OpenApiExample("Changed", value=ENDPOINT_EXAMPLE, response_only=True),
        ],
        tags=["webhooks"],
    )
    def patch(self, request: Request, account_slug: str, endpoint_id: str) -> Response:
        endpoint = self.endpoint()
        data = EndpointInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        audit_context = AuditContext.of(request._request)
        try:
            endpoints.update(endpoint, self.request.user, audit_context, **data.validated_data)
        except endpoints.EndpointRefused as refused:
            raise EndpointRefusedError(refused.message, refused.code) from refused
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(
        operation_id="webhooks_destroy",
        summary="Delete an endpoint and its delivery log",
        description="Answers with the endpoint as it was.",
        responses={200: EndpointOutput, **ENDPOINT_ERRORS},
        examples=[OpenApiExample("Deleted", value=ENDPOINT_EXAMPLE, response_only=True)],
        tags=["webhooks"],
    )
    def delete(self, request: Request, account_slug: str, endpoint_id: str) -> Response:
        endpoint = self.endpoint()
        body = EndpointOutput(endpoint).data
        endpoints.delete(endpoint, self.request.user, AuditContext.of(request._request))
        return Response(body)


class RollSecret(WebhooksAPIView):
    @extend_schema(
        operation_id="webhooks_roll_secret",
        summary="Replace the signing secret",
        description="The old secret keeps signing beside the new one for 24 hours.",
        request=None,
        responses={200: NewSecretOutput, **ENDPOINT_ERRORS},
        examples=[OpenApiExample("Rolled", value=SECRET_EXAMPLE, response_only=True)],
        tags=["webhooks"],
    )
    def post(self, request: Request, account_slug: str, endpoint_id: str) -> Response:
        endpoint = self.endpoint()
        secret = endpoints.roll_secret(
            endpoint, self.request.user, AuditContext.of(request._request)
        )
        return Response({**EndpointOutput(endpoint).data, "secret": secret})


class SendTest(WebhooksAPIView):
    @extend_schema(
        operation_id="webhooks_send_test",
        summary="Send a `webhook.test` event to this endpoint",
        request=None,
        responses={202: DeliveryOutput, 429: TOO_MANY_SENDS, **ENDPOINT_ERRORS},
        examples=[
            OpenApiExample(
                "Queued",
                value={
                    **DELIVERY_EXAMPLE,
                    "event_type": "webhook.test",
                    "status": "pending",
                    "attempts": 0,
                    "last_attempt_at": None,
                    "response_status": None,
                    "duration_ms": None,
                    "next_attempt_at": "2026-11-28T09:31:00Z",
                },
                response_only=True,
                status_codes=[202],
            )
        ],
        tags=["webhooks"],
    )
    def post(self, request: Request, account_slug: str, endpoint_id: str) -> Response:
        try:
            sent = delivery.send_test(self.endpoint())
        except delivery.TooManySends as refused:
            raise TooManySendsError(refused) from refused
        return Response(DeliveryOutput(sent).data, status=status.HTTP_202_ACCEPTED)


class DeliveryList(WebhooksAPIView):
    serializer_class = DeliveryOutput  # type: ignore[assignment]  # a different model

    @extend_schema(
        operation_id="webhooks_deliveries_list",
        summary="An endpoint's delivery log, newest event first",
        responses={200: DeliveryOutput(many=True), **ENDPOINT_ERRORS},
        examples=[OpenApiExample("A delivery", value=DELIVERY_EXAMPLE, response_only=True)],
        tags=["webhooks"],
    )
    def get(self, request: Request, account_slug: str, endpoint_id: str) -> Response:
        log = self.endpoint().deliveries.select_related("event")
        page = self.paginate_queryset(log)  # type: ignore[arg-type]  # deliveries, not endpoints
        return self.get_paginated_response(DeliveryOutput(page, many=True).data)  # type: ignore[arg-type]


class Resend(WebhooksAPIView):
    @extend_schema(
        operation_id="webhooks_deliveries_resend",
        summary="Send a delivery again now",
        request=None,
        responses={202: DeliveryOutput, 429: TOO_MANY_SENDS, **ENDPOINT_ERRORS},
        examples=[
            OpenApiExample(
                "Queued again",
                value={**DELIVERY_EXAMPLE, "status": "pending"},
                response_only=True,
                status_codes=[202],
            )
        ],
        tags=["webhooks"],
    )
    def post(
        self, request: Request, account_slug: str, endpoint_id: str, delivery_id: int
    ) -> Response:
        found = get_object_or_404(Delivery, endpoint=self.endpoint(), pk=delivery_id)
        try:
            delivery.resend(found)
        except delivery.TooManySends as refused:
            raise TooManySendsError(refused) from refused
        found.refresh_from_db()
        return Response(DeliveryOutput(found).data, status=status.HTTP_202_ACCEPTED)
