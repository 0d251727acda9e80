"""Apply a catalog file: create or update products and plans, retire plans no longer listed.

Idempotent: a row is saved only when one of its fields differs from the file, so applying the
same file twice writes nothing. Everything is checked first and written in one transaction, so
a bad file changes nothing.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from openapi_spec_validator import validate as validate_openapi

from catalog.models import (
    PREFIX_RULE,
    TEST_ROUTE_LIVE,
    ApiProduct,
    Coupon,
    CreditPack,
    Plan,
    PlanProduct,
    invalid_prefixes,
    operation_problems,
)
from catalog.operations import Operation
from catalog.signals import catalog_applied

PRODUCT_FIELDS = {
    "slug", "name", "description", "path_prefix", "upstream_url", "visibility", "test_route",
    "operations",
}  # fmt: skip
PLAN_FIELDS = {
    "slug", "name", "description", "is_public", "is_default", "sort_order", "monthly_price",
    "yearly_price", "currency", "requests_per_second", "requests_per_minute", "requests_per_period",
    "overage_price_per_1000", "max_live_keys", "trial_days", "pass_days", "pass_price",
    "features",
}  # fmt: skip
PACK_FIELDS = {
    "slug", "name", "description", "credits", "price", "currency", "expires_after_days", "plan",
    "sort_order",
}  # fmt: skip
COUPON_FIELDS = {
    "slug", "name", "percent_off", "amount_off", "currency", "duration", "duration_in_months",
    "promotion_codes",
}  # fmt: skip
DECIMAL_FIELDS = {"monthly_price", "yearly_price", "overage_price_per_1000", "percent_off",
                  "amount_off", "pass_price", "price"}  # fmt: skip
# A limit left out of the file means "none": the plan is unlimited in that window; a yearly
# price left out means the plan is sold monthly only.
NULLABLE_FIELDS = {
    "requests_per_second", "requests_per_minute", "requests_per_period", "overage_price_per_1000",
    "yearly_price", "pass_days", "pass_price",
}  # fmt: skip


class CatalogError(Exception):
    """A catalog file that cannot be applied; the message says where and why."""


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{len(v)} {k}" for k, v in vars(self).items()]
        changed = self.created + self.updated + self.retired
        return ", ".join(parts) + (f": {', '.join(changed)}" if changed else "")


def read_catalog(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise CatalogError(f"{path}: {error}") from None


def load_spec(base_dir: Path, name: str, product: str) -> dict[str, Any]:
    path = base_dir / name
    try:
        text = path.read_text()
        spec: dict[str, Any] = json.loads(text) if path.suffix == ".json" else _yaml(text)
        validate_openapi(spec)
    except Exception as error:  # each library raises its own kinds; all mean "bad spec"
        message = (getattr(error, "message", None) or str(error) or repr(error)).splitlines()[0]
        raise CatalogError(
            f"product {product}: OpenAPI spec {name} is invalid: {message}"
        ) from None
    return spec


def _yaml(text: str) -> Any:
    import yaml  # installed with openapi-spec-validator

    return yaml.safe_load(text)


def _fields(entry: dict[str, Any], allowed: set[str], kind: str) -> dict[str, Any]:
    unknown = set(entry) - allowed
    if unknown:
        raise CatalogError(f"{kind} {entry.get('slug', '?')}: unknown fields {sorted(unknown)}")
    values = dict(entry)
    for name in DECIMAL_FIELDS & set(values):
        try:
            values[name] = Decimal(str(values[name]))
        except InvalidOperation:
            raise CatalogError(f"{kind} {entry.get('slug')}: {name} is not a number") from None
    return values


CatalogModel = TypeVar("CatalogModel", ApiProduct, Plan, Coupon, CreditPack)


def _upsert(
    model: type[CatalogModel], values: dict[str, Any], report: Report, label: str
) -> CatalogModel:
    instance = model.objects.filter(slug=values["slug"]).first()
    created = instance is None
    instance = instance or model()
    changed = [n for n, v in values.items() if created or getattr(instance, n) != v]
    for name in changed:
        setattr(instance, name, values[name])
    try:
        instance.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        raise CatalogError(f"{label}: {error.message_dict}") from None
    if created or changed:
        instance.save()
        (report.created if created else report.updated).append(label)
    else:
        report.unchanged.append(label)
    return instance


def _operations(entries: Any, product: str) -> list[dict[str, Any]]:
    """The product's operations as stored: each checked, in the file's order."""
    if problems := operation_problems(entries):
        raise CatalogError(f"product {product}: {'; '.join(problems)}")
    return [Operation.from_entry(entry).as_entry() for entry in entries]


def _entitlements(plan: Plan, entries: list[Any], products: dict[str, ApiProduct]) -> bool:
    wanted: dict[int, tuple[list[str], list[str]]] = {}
    for entry in entries:
        entry = {"product": entry} if isinstance(entry, str) else entry
        product = products.get(entry.get("product", ""))
        if product is None:
            raise CatalogError(f"plan {plan.slug}: unknown product {entry.get('product')!r}")
        methods = [m.upper() for m in entry.get("methods", [])]
        prefixes = entry.get("path_prefixes", [])
        if bad := invalid_prefixes(prefixes):
            raise CatalogError(
                f"plan {plan.slug}: product {product.slug}: not a path prefix: {', '.join(bad)}"
                f" (use {PREFIX_RULE})"
            )
        wanted[product.pk] = (methods, list(prefixes))
    existing = {e.product_id: e for e in plan.entitlements.all()}
    changed = False
    for product_id, (methods, prefixes) in wanted.items():
        current = existing.get(product_id)
        if current is None or (current.methods, current.path_prefixes) != (methods, prefixes):
            PlanProduct.objects.update_or_create(
                plan=plan, product_id=product_id,
                defaults={"methods": methods, "path_prefixes": prefixes},
            )  # fmt: skip
            changed = True
    stale = [pid for pid in existing if pid not in wanted]
    if stale:
        plan.entitlements.filter(product_id__in=stale).delete()
        changed = True
    return changed


def apply_catalog(data: dict[str, Any], base_dir: Path) -> Report:
    unknown = set(data) - {"products", "plans", "coupons", "credit_packs"}
    if unknown:
        raise CatalogError(f"unknown top-level tables {sorted(unknown)}")
    product_entries, plan_entries = data.get("products", []), data.get("plans", [])
    coupon_entries, pack_entries = data.get("coupons", []), data.get("credit_packs", [])
    for kind, entries in (
        ("product", product_entries),
        ("plan", plan_entries),
        ("coupon", coupon_entries),
        ("credit_pack", pack_entries),
    ):
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise CatalogError(f"[[{kind}s]] must be a list of tables")
        for number, entry in enumerate(entries, 1):
            if not isinstance(entry.get("slug"), str) or not entry["slug"]:
                raise CatalogError(f"{kind} number {number} has no slug")
    if sum(bool(p.get("is_default")) for p in plan_entries) > 1:
        raise CatalogError("more than one plan has is_default = true")
    specs = {
        p["slug"]: load_spec(base_dir, p["openapi_spec"], p["slug"])
        for p in product_entries
        if p.get("openapi_spec")
    }
    report = Report()
    with transaction.atomic():
        products = {}
        for entry in product_entries:
            values = _fields({k: v for k, v in entry.items() if k != "openapi_spec"},
                             PRODUCT_FIELDS, "product")  # fmt: skip
            values["openapi_spec"] = specs.get(entry.get("slug"))
            # Left out, test keys call the live upstream: the file, not an old row, decides.
            values = {"test_route": TEST_ROUTE_LIVE} | values
            values["operations"] = _operations(values.get("operations", []), entry["slug"])
            product = _upsert(ApiProduct, values, report, f"product {entry.get('slug')}")
            products[product.slug] = product
        products.update({p.slug: p for p in ApiProduct.objects.exclude(slug__in=products)})
        listed = [p["slug"] for p in plan_entries]
        if any(p.get("is_default") for p in plan_entries):
            # One default at a time (a constraint): unset the old one before setting the new.
            Plan.objects.filter(is_default=True).exclude(
                slug__in=[p["slug"] for p in plan_entries if p.get("is_default")]
            ).update(is_default=False)
        plans = []
        for entry in plan_entries:
            values = _fields({k: v for k, v in entry.items() if k != "products"},
                             PLAN_FIELDS, "plan")  # fmt: skip
            values = (
                {n: None for n in NULLABLE_FIELDS} | {"is_default": False, "features": {}} | values
            )
            values["is_retired"] = False
            label = f"plan {entry.get('slug')}"
            plan = _upsert(Plan, values, report, label)
            if _entitlements(plan, entry.get("products", []), products) and label in (
                report.unchanged
            ):
                report.unchanged.remove(label)
                report.updated.append(label)
            plans.append(plan)
        for plan in Plan.objects.filter(is_retired=False).exclude(slug__in=listed):
            # Accounts may still be on it (and billing may still bill it): retire, never delete.
            plan.is_retired, plan.is_default = True, False
            plan.save(update_fields=["is_retired", "is_default", "updated_at"])
            report.retired.append(f"plan {plan.slug}")
        coupon_defaults: dict[str, Any] = {
            "percent_off": None, "amount_off": None, "currency": "usd", "duration": "once",
            "duration_in_months": None, "promotion_codes": [],
        }  # fmt: skip
        for entry in coupon_entries:
            values = coupon_defaults | _fields(entry, COUPON_FIELDS, "coupon")
            _upsert(Coupon, values, report, f"coupon {entry['slug']}")
        packs = _credit_packs(pack_entries, report)
        transaction.on_commit(
            lambda: catalog_applied.send(
                sender=apply_catalog, plans=plans, products=list(products.values()), packs=packs
            )
        )
    return report


def _credit_packs(entries: list[dict[str, Any]], report: Report) -> list[CreditPack]:
    """Create or update the listed packs; retire (never delete) the others: their purchases
    stay in the credit ledger."""
    packs = []
    for entry in entries:
        values = {"description": "", "currency": "usd", "expires_after_days": None,
                  "sort_order": 0} | _fields(entry, PACK_FIELDS, "credit_pack")  # fmt: skip
        plan = Plan.objects.filter(slug=values.get("plan", "")).first()
        if plan is None:
            raise CatalogError(f"credit_pack {entry['slug']}: unknown plan {entry.get('plan')!r}")
        values["plan"], values["is_retired"] = plan, False
        packs.append(_upsert(CreditPack, values, report, f"credit_pack {entry['slug']}"))
    for pack in CreditPack.objects.filter(is_retired=False).exclude(
        slug__in=[p.slug for p in packs]
    ):
        pack.is_retired = True
        pack.save(update_fields=["is_retired"])
        report.retired.append(f"credit_pack {pack.slug}")
    return packs
