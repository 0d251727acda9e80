from __future__ import annotations

from collections.abc import Sequence

from django import template

from catalog import pricing
from catalog.models import Plan

register = template.Library()


@register.filter
def monthly_price(plan: Plan) -> str:
    return pricing.monthly_price(plan)


@register.filter
def yearly_price(plan: Plan) -> str:
    return pricing.yearly_price(plan)


@register.filter
def overage_price(plan: Plan) -> str | None:
    return pricing.overage_price(plan)


@register.simple_tag
def highlighted_plan(plans: Sequence[Plan]) -> Plan | None:
    return pricing.highlighted(list(plans))


@register.simple_tag
def plan_comparison(plans: Sequence[Plan]) -> list[pricing.ComparisonRow]:
    return pricing.comparison(list(plans))


@register.simple_tag
def weighted_operations(plans: Sequence[Plan]) -> list[pricing.WeightedOperation]:
    return pricing.weighted_operations(list(plans))
