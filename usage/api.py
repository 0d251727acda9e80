"""The usage REST API: the rows of the CSV export, and the period at a glance, as JSON."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.access import membership_allowing
from accounts.models import Membership
from accounts.roles import Perm
from apikeys.models import Environment
from portal.api_errors import (
    ACCOUNT_NOT_FOUND,
    NOT_AUTHENTICATED,
    error_example,
    error_response,
    invalid,
)
from portal.http import AuthenticatedRequest
from portal.pagination import MAX_OFFSET
from usage import reports
from usage.export import ExportQuery, Position, export_rows, position_of
from usage.forms import ExportForm, check_exportable

MAX_LIMIT = 10_000
NOT_A_CURSOR = "Not a cursor this API gave out."
LONGEST_CURSOR_PART = 200  # the longest column a cursor carries (the endpoint)


def is_cursor_part(part: object) -> bool:
    return isinstance(part, str) and len(part) <= LONGEST_CURSOR_PART and "\x00" not in part


class UsageQuerySerializer(serializers.Serializer[dict[str, Any]]):
    account = serializers.SlugField(help_text="The account's slug")
    start = serializers.DateField(help_text="First day, inclusive (UTC)")
    end = serializers.DateField(help_text="Last day, inclusive (UTC)")
    by = serializers.ChoiceField(choices=["day", "hour"], default="day")
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=1000)
    offset = serializers.IntegerField(
        min_value=0,
        max_value=MAX_OFFSET,
        default=0,
        help_text="Rows to skip. Deep pages are faster with `cursor`.",
    )
    cursor = serializers.CharField(
        required=False,
        help_text="The `next_cursor` of the previous page: the page right after it, as fast "
        "however deep (with the same account, start, end and by)",
    )

    # The export form's bound; DRF reports its Django ValidationError as the field's, code kept.
    def validate_start(self, value: date) -> date:
        return check_exportable(value)

    def validate_end(self, value: date) -> date:
        return check_exportable(value)

    def validate_cursor(self, value: str) -> list[str]:
        try:
            position = json.loads(base64.urlsafe_b64decode(value.encode()))
        except (ValueError, binascii.Error):
            position = None
        if not (isinstance(position, list) and len(position) == 6):
            raise serializers.ValidationError(NOT_A_CURSOR)
        if not all(is_cursor_part(part) for part in position):
            # Its parts go into a query: NUL is text PostgreSQL refuses (a 500, not a page).
            raise serializers.ValidationError(NOT_A_CURSOR)
        return position

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        cursor = data.get("cursor")
        if cursor is not None:
            if data["offset"]:
                raise serializers.ValidationError({"offset": "Give an offset or a cursor."})
            if cursor[0] != data["by"]:
                raise serializers.ValidationError({"cursor": "This cursor is for another `by`."})
        return data


def encode_cursor(by: str, position: Position) -> str:
    parts = [by, position[0].isoformat(), *position[1:]]
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


def decode_cursor(parts: list[str]) -> Position:
    by, stamp, *rest = parts
    try:
        moment = datetime.fromisoformat(stamp) if by == "hour" else date.fromisoformat(stamp)
    except ValueError:
        raise ValidationError({"cursor": [NOT_A_CURSOR]}) from None
    if isinstance(moment, datetime) and moment.tzinfo is None:  # every hour given out is UTC
        raise ValidationError({"cursor": [NOT_A_CURSOR]})
    key_id, product, endpoint, outcome = rest
    return (moment, key_id, product, endpoint, outcome)


class UsageRowSerializer(serializers.Serializer[dict[str, Any]]):
    start = serializers.CharField(help_text="The bucket's start: a date, or an ISO 8601 hour")
    key_id = serializers.CharField()
    key_name = serializers.CharField()
    environment = serializers.ChoiceField(choices=Environment.choices)
    product = serializers.CharField()
    endpoint = serializers.CharField()
    outcome = serializers.CharField(help_text='"ok", or why the gateway refused the calls')
    count = serializers.IntegerField()
    units = serializers.IntegerField(
        help_text="Quota units the admitted calls consumed: count times the endpoint's cost "
        "(0 for refused calls)"
    )


class UsagePageSerializer(serializers.Serializer[dict[str, Any]]):
    account = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    by = serializers.CharField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text="Pass as `cursor` for the next page; null on the last page"
    )
    results = UsageRowSerializer(many=True)


class GlanceSerializer(serializers.Serializer[dict[str, Any]]):
    account = serializers.CharField()
    period_start = serializers.DateTimeField()
    period_end = serializers.DateTimeField()
    used = serializers.IntegerField(help_text="Admitted live calls this period")
    quota = serializers.IntegerField(allow_null=True)
    percent = serializers.FloatField(allow_null=True)
    projected = serializers.IntegerField(
        help_text="Calls by the period's end at this pace; equal to `used` until "
        "`projection_ready` (a day of the period has passed)"
    )
    projection_ready = serializers.BooleanField()
    projected_overage_calls = serializers.IntegerField()
    projected_bill = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    days_left = serializers.IntegerField()


def membership_for(request: AuthenticatedRequest, slug: str) -> Membership:
    return membership_allowing(request.user, slug, Perm.VIEW_USAGE)


ERRORS = {
    401: NOT_AUTHENTICATED,
    403: error_response(
        "Your role cannot see usage (owners, admins and developers can)",
        error_example("permission_denied", "Your role (Billing) cannot do this."),
    ),
    404: ACCOUNT_NOT_FOUND,
}


class UsageRowsView(APIView):
    @extend_schema(
        summary="Usage rows by day or hour",
        description="Calls per bucket, key, endpoint and outcome: the same rows as the CSV export.",
        operation_id="usage_list",
        parameters=[UsageQuerySerializer],
        responses={
            200: UsagePageSerializer,
            400: invalid(end=["The end date must be on or after the start date."]),
            **ERRORS,
        },
        examples=[
            OpenApiExample(
                "One day",
                response_only=True,
                value={
                    "account": "acme",
                    "start": "2026-11-01",
                    "end": "2026-11-01",
                    "by": "day",
                    "offset": 0,
                    "next_offset": None,
                    "next_cursor": None,
                    "results": [
                        {
                            "start": "2026-11-01",
                            "key_id": "key_3fQz9aX1bC2dE4fG",
                            "key_name": "Production (tg_live_3fQz…)",
                            "environment": "live",
                            "product": "demo",
                            "endpoint": "GET /demo/hello",
                            "outcome": "ok",
                            "count": 1234,
                            "units": 1234,
                        }
                    ],
                },
            )
        ],
        tags=["usage"],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        query = UsageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params: dict[str, Any] = dict(query.validated_data)
        membership = membership_for(request, params["account"])
        form = ExportForm({"start": params["start"], "end": params["end"], "by": params["by"]})
        if not form.is_valid():
            # The ErrorList yields message strings; the stubs count Django ValidationErrors in it.
            raise ValidationError({"end": form.non_field_errors()})  # type: ignore[dict-item]
        export = ExportQuery.from_form(membership.account, form.cleaned_data)
        offset, limit = params["offset"], params["limit"]
        after = decode_cursor(params["cursor"]) if "cursor" in params else None
        rows = list(export_rows(export, offset, limit + 1, after))
        more = len(rows) > limit
        results = [dict(zip(ExportQuery.COLUMNS, row, strict=True)) for row in rows[:limit]]
        return Response(
            {
                "account": membership.account.slug,
                "start": export.start,
                "end": export.end,
                "by": export.by,
                "offset": offset,
                "next_offset": offset + limit if more else None,
                "next_cursor": encode_cursor(export.by, position_of(rows[limit - 1], export.by))
                if more
                else None,
                "results": results,
            }
        )


class UsageGlanceView(APIView):
    @extend_schema(
        operation_id="usage_glance",
        summary="This period at a glance",
        description="Live calls so far this billing period, against the quota, and where the "
        "period is heading at today's pace.",
        responses={200: GlanceSerializer, **ERRORS},
        examples=[
            OpenApiExample(
                "Heading for overage",
                response_only=True,
                value={
                    "account": "acme",
                    "period_start": "2026-11-01T00:00:00Z",
                    "period_end": "2026-12-01T00:00:00Z",
                    "used": 82000,
                    "quota": 100000,
                    "percent": 82.0,
                    "projected": 123000,
                    "projection_ready": True,
                    "projected_overage_calls": 23000,
                    "projected_bill": "61.50",
                    "currency": "USD",
                    "days_left": 10,
                },
            )
        ],
        tags=["usage"],
    )
    def get(self, request: AuthenticatedRequest, account_slug: str) -> Response:
        membership = membership_for(request, account_slug)
        glance = reports.glance(membership.account, timezone.now())
        data = {
            "account": membership.account.slug,
            **{
                name: getattr(glance, name)
                for name in GlanceSerializer().get_fields()
                if name != "account"
            },
        }
        return Response(GlanceSerializer(data).data)
