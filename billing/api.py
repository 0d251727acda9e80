"""The invoices REST API: /api/v1/accounts/<slug>/invoices/ and the upcoming invoice.

Owners and billing members only, like the billing page. Past invoices are our copies of Stripe's
(written from webhooks and the nightly reconcile); the upcoming one is asked of Stripe, through
billing.gateway, on each call. Amounts are integers in the currency's smallest unit, as Stripe's.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from accounts.access import membership_allowing
from accounts.models import Membership
from accounts.roles import Perm
from billing import flows
from billing.flows import UpcomingInvoice
from billing.gateway import BillingError
from billing.models import Invoice
from portal.api_errors import (
    ACCOUNT_NOT_FOUND,
    NOT_AUTHENTICATED,
    error_example,
    error_response,
)
from portal.http import AuthenticatedRequest


class BillingUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "billing_unavailable"


class OptionalURLField(serializers.URLField):
    """Stripe leaves an invoice's links empty until it is finalized: null then, not ""."""

    # DRF lets a field represent a value as None; the stubs say a URLField's is always a str.
    def to_representation(self, value: str) -> str | None:  # type: ignore[override]
        return value or None


class InvoiceOutput(serializers.ModelSerializer[Invoice]):
    id = serializers.CharField(source="stripe_id", help_text="Stripe's invoice id (in_…)")
    status = serializers.CharField(help_text="Stripe's: draft, open, paid, uncollectible or void")
    currency = serializers.CharField(help_text="ISO 4217, lower case")
    amount_due = serializers.IntegerField(help_text="In the currency's smallest unit")
    amount_paid = serializers.IntegerField(help_text="In the currency's smallest unit")
    tax = serializers.IntegerField(
        help_text="Stripe Tax's total, included in amount_due; 0 without Stripe Tax"
    )
    discount = serializers.IntegerField(
        help_text="Taken off by coupons and promotion codes, before tax; 0 without one"
    )
    hosted_invoice_url = OptionalURLField(allow_null=True)
    invoice_pdf = OptionalURLField(allow_null=True)

    class Meta:
        model = Invoice
        fields = [
            "id", "number", "status", "currency", "amount_due", "amount_paid", "tax", "discount",
            "created",
            "period_start", "period_end", "hosted_invoice_url", "invoice_pdf",
        ]  # fmt: skip


class UpcomingInvoiceOutput(serializers.Serializer[UpcomingInvoice]):
    amount_due = serializers.IntegerField(help_text="In the currency's smallest unit")
    currency = serializers.CharField(help_text="ISO 4217, lower case")
    overage_amount = serializers.IntegerField(
        help_text="The part for calls beyond the plan's quota reported so far, in the smallest unit"
    )
    overage_calls = serializers.IntegerField(help_text="Calls beyond the quota reported so far")
    date = serializers.DateTimeField(allow_null=True, help_text="When it will be issued")


FORBIDDEN = error_response(
    "Your role cannot see invoices (owners and billing members can)",
    error_example("permission_denied", "Your role (Developer) cannot do this."),
)


def membership_for(request: AuthenticatedRequest, account_slug: str) -> Membership:
    return membership_allowing(request.user, account_slug, Perm.VIEW_INVOICES)


class InvoiceList(GenericAPIView[Invoice]):
    serializer_class = InvoiceOutput

    @extend_schema(
        operation_id="invoices_list",
        summary="An account's invoices",
        description="Newest first.",
        responses={
            200: InvoiceOutput(many=True),
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: ACCOUNT_NOT_FOUND,
        },
        examples=[
            OpenApiExample(
                "A paid invoice",
                value={
                    "id": "in_1QfW2xAcme",
                    "number": "TG-0001-0003",
                    "status": "paid",
                    "currency": "usd",
                    "amount_due": 1650,
                    "amount_paid": 1650,
                    "tax": 150,
                    "discount": 500,
                    "created": "2026-11-01T00:00:05Z",
                    "period_start": "2026-10-01T00:00:00Z",
                    "period_end": "2026-11-01T00:00:00Z",
                    "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_YWNt",
                    "invoice_pdf": "https://pay.stripe.com/invoice/acct_1/test_YWNt/pdf",
                },
                response_only=True,
            )
        ],
        tags=["invoices"],
    )
    def get(self, request: AuthenticatedRequest, account_slug: str) -> Response:
        account = membership_for(request, account_slug).account
        page = self.paginate_queryset(account.invoices.all())
        return self.get_paginated_response(InvoiceOutput(page, many=True).data)


class UpcomingInvoiceView(GenericAPIView[Any]):  # no queryset: asked of Stripe
    serializer_class = UpcomingInvoiceOutput

    @extend_schema(
        operation_id="invoices_upcoming",
        summary="The upcoming invoice",
        description=(
            "Stripe's preview of the next invoice of the account's subscription, with the "
            "overage reported so far picked out. 404 `no_upcoming_invoice` when none is coming: "
            "no subscription, or it ends with this period."
        ),
        responses={
            200: UpcomingInvoiceOutput,
            401: NOT_AUTHENTICATED,
            403: FORBIDDEN,
            404: error_response(
                "No such account (or not yours), or no invoice is coming",
                error_example("not_found", "No such account"),
                error_example(
                    "no_upcoming_invoice",
                    "No invoice is coming: there is no subscription, or it ends this period.",
                ),
            ),
            503: error_response(
                "Stripe could not be asked; try again later",
                error_example(
                    "billing_unavailable",
                    "The upcoming invoice is not available right now: Stripe is unavailable.",
                ),
            ),
        },
        examples=[
            OpenApiExample(
                "With overage",
                value={
                    "amount_due": 1750,
                    "currency": "usd",
                    "overage_amount": 750,
                    "overage_calls": 1500,
                    "date": "2026-12-01T00:00:00Z",
                },
                response_only=True,
            )
        ],
        tags=["invoices"],
    )
    def get(self, request: AuthenticatedRequest, account_slug: str) -> Response:
        account = membership_for(request, account_slug).account
        try:
            upcoming = flows.upcoming_invoice(account)
        except BillingError as error:
            raise BillingUnavailable(
                f"The upcoming invoice is not available right now: {error}"
            ) from None
        if upcoming is None:
            raise NotFound(
                "No invoice is coming: there is no subscription, or it ends this period.",
                "no_upcoming_invoice",
            )
        return Response(UpcomingInvoiceOutput(upcoming).data)
