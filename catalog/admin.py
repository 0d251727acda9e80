from __future__ import annotations

from django import forms
from django.contrib import admin
from django.forms.formsets import BaseFormSet
from django.http import HttpRequest

from catalog.models import ApiProduct, Comp, Plan, PlanProduct
from catalog.signals import catalog_applied


class PlanProductInline(admin.TabularInline[PlanProduct, Plan]):
    model = PlanProduct
    extra = 0


@admin.register(ApiProduct)
class ApiProductAdmin(admin.ModelAdmin[ApiProduct]):
    list_display = ["name", "slug", "path_prefix", "upstream_url", "test_route", "visibility"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]

    def save_model(
        self, request: HttpRequest, obj: ApiProduct, form: forms.Form, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        announce_change(plans=[], products=[obj])


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin[Plan]):
    list_display = [
        "name", "slug", "is_public", "is_default", "is_retired", "monthly_price",
        "requests_per_second", "requests_per_minute", "requests_per_period",
    ]  # fmt: skip
    list_filter = ["is_public", "is_retired"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["stripe_product_id", "stripe_price_id", "stripe_overage_price_id"]
    inlines = [PlanProductInline]

    def save_related(
        self,
        request: HttpRequest,
        form: forms.ModelForm[Plan],
        formsets: list[BaseFormSet[forms.Form]],
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        announce_change(plans=[form.instance])

    def delete_model(self, request: HttpRequest, obj: Plan) -> None:
        super().delete_model(request, obj)
        announce_change(plans=[])


def announce_change(plans: list[Plan], products: list[ApiProduct] | None = None) -> None:
    """An edit in the admin is a catalog change like apply_catalog's: billing mirrors plans to
    Stripe and every gateway process reloads the catalog and all account policies."""
    catalog_applied.send(sender=PlanAdmin, plans=plans, products=products or [])


@admin.register(Comp)
class CompAdmin(admin.ModelAdmin[Comp]):
    """Plans given without payment (manage.py set_plan): who, why, until when."""

    list_display = ["account", "plan", "granted_by", "reason", "until", "created_at", "ended_at"]
    list_filter = ["plan"]
    search_fields = ["account__name", "account__slug", "granted_by", "reason"]
    raw_id_fields = ["account"]
