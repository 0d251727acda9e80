"""API products and plans: the catalog, kept as data (never `if plan == "pro"`).

Providers declare it in a TOML file applied by ``manage.py apply_catalog``; billing mirrors
plans to Stripe Products and Prices; the gateway enforces them.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

from catalog import paths
from catalog.operations import Operation

PREFIX_RULE = (
    "letters, digits and -._~!$&'()*+,=:@ between single slashes; no dot segments, "
    "no percent-encoding (docs/gateway-paths.md)"
)


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public: listed for everyone"
    PLAN = "plan", "Plan-gated: listed once a plan includes it"
    PRIVATE = "private", "Private: hidden from the portal"


class ApiProduct(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    path_prefix = models.CharField(
        max_length=200, unique=True, help_text="Where the gateway serves it, e.g. /demo/"
    )
    upstream_url = models.URLField(help_text="Where nginx forwards admitted calls")
    openapi_spec = models.JSONField(null=True, blank=True)
    # Weighted and separately limited operations (catalog.operations): what a call costs in
    # units of quota and how many calls of it an account may make per second or minute.
    operations = models.JSONField(default=list, blank=True)
    visibility = models.CharField(max_length=10, choices=Visibility, default=Visibility.PUBLIC)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # nginx matches location prefixes character by character: one that ends in "/" ends on
        # a segment boundary, and "/" alone would take the portal's own pages.
        prefix = self.path_prefix
        if not (paths.is_canonical_prefix(prefix) and prefix.endswith("/") and prefix != "/"):
            raise ValidationError(
                {"path_prefix": f"Start and end with / (e.g. /demo/): {PREFIX_RULE}."},
                code="invalid_path_prefix",
            )
        if problems := operation_problems(self.operations):
            raise ValidationError({"operations": problems}, code="invalid_operations")


class Plan(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    is_public = models.BooleanField(default=True, help_text="Shown on the pricing page")
    is_default = models.BooleanField(
        default=False, help_text="The plan of every account without a paid subscription"
    )
    is_retired = models.BooleanField(
        default=False, help_text="Kept for the accounts on it; no one new can pick it"
    )
    sort_order = models.PositiveIntegerField(default=0)
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal(0))
    # None: sold monthly only. The quota stays monthly either way (billing.standing).
    yearly_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="usd")
    # None means "no limit" for every window below.
    requests_per_second = models.PositiveIntegerField(null=True, blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    requests_per_period = models.PositiveBigIntegerField(null=True, blank=True)
    # None is a hard cap at requests_per_period; a price bills each 1,000 calls beyond it.
    overage_price_per_1000 = models.DecimalField(
        max_digits=10, decimal_places=4, null=True, blank=True
    )
    max_live_keys = models.PositiveIntegerField(default=2)
    trial_days = models.PositiveIntegerField(default=0)
    # Named features the upstream reads from the entitlement token: flags (true/false) and
    # numeric limits (whole numbers), e.g. {"insights": true, "report_rows": 100}.
    features = models.JSONField(default=dict, blank=True)
    products = models.ManyToManyField(ApiProduct, through="PlanProduct", related_name="plans")
    # Filled in by billing when the plan is mirrored to Stripe.
    stripe_product_id = models.CharField(max_length=255, blank=True)
    stripe_price_id = models.CharField(max_length=255, blank=True)
    stripe_overage_price_id = models.CharField(max_length=255, blank=True)
    stripe_yearly_price_id = models.CharField(max_length=255, blank=True)
    stripe_yearly_overage_price_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "monthly_price", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="catalog_plan_one_default",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if problems := feature_problems(self.features):
            raise ValidationError({"features": problems}, code="invalid_features")

    @property
    def has_overage(self) -> bool:
        return self.overage_price_per_1000 is not None

    @property
    def sold_yearly(self) -> bool:
        return self.yearly_price is not None and bool(self.stripe_yearly_price_id)

    def stripe_prices(self, interval: str) -> list[str]:
        """The Stripe prices of a subscription to this plan billed every `interval`: the
        licensed price and, with overage, the metered one (Stripe wants one interval)."""
        if interval == "year":
            ids = [self.stripe_yearly_price_id, self.stripe_yearly_overage_price_id]
        else:
            ids = [self.stripe_price_id, self.stripe_overage_price_id]
        return [price for price in ids if price]


class PlanProduct(models.Model):
    """A product included in a plan, optionally narrowed to some methods and path prefixes."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="entitlements")
    product = models.ForeignKey(ApiProduct, on_delete=models.CASCADE, related_name="entitlements")
    methods = models.JSONField(default=list, blank=True, help_text="Empty: every method")
    path_prefixes = models.JSONField(default=list, blank=True, help_text="Empty: every path")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["plan", "product"], name="catalog_planproduct_once")
        ]

    def __str__(self) -> str:
        return f"{self.plan} → {self.product}"

    def clean(self) -> None:
        bad = invalid_prefixes(self.path_prefixes)
        if bad:
            raise ValidationError(
                {"path_prefixes": f"Not a path prefix: {', '.join(bad)}. Use {PREFIX_RULE}."},
                code="invalid_path_prefix",
            )


def invalid_prefixes(prefixes: object) -> list[str]:
    """The entries of a list of path prefixes that are not canonical (all of it if not a list)."""
    if not isinstance(prefixes, list):
        return [repr(prefixes)[:40]]
    return [
        repr(p)[:40] for p in prefixes if not (isinstance(p, str) and paths.is_canonical_prefix(p))
    ]


def operation_problems(operations: object) -> list[str]:
    """What is wrong with a product's operations (nothing: an empty list)."""
    if not isinstance(operations, list):
        return ["operations must be a list of tables"]
    problems = []
    seen = set()
    for entry in operations:
        try:
            operation = Operation.from_entry(entry)
        except ValueError as error:
            problems.append(str(error))
            continue
        # The gateway reads paths in any letter case: /Reports and /reports are one operation.
        if (operation.method, operation.path.lower()) in seen:
            problems.append(f"{operation.label} is listed twice")
        seen.add((operation.method, operation.path.lower()))
    return problems


FEATURE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_FEATURES = 50


def feature_problems(features: object) -> list[str]:
    if not isinstance(features, dict):
        return ["features must be a table of names to true/false or whole numbers"]
    problems = []
    if len(features) > MAX_FEATURES:
        problems.append(f"{MAX_FEATURES} features at most")
    for name, value in features.items():
        if not (isinstance(name, str) and FEATURE_NAME.fullmatch(name)):
            problems.append(f"feature {str(name)[:40]!r}: lower-case letters, digits and _")
        # bool is an int in Python: check it first; floats and strings are refused.
        elif not isinstance(value, bool) and not (
            isinstance(value, int) and 0 <= value <= MAX_FEATURE_LIMIT
        ):
            problems.append(f"feature {name}: true, false or a whole number from 0")
    return problems


MAX_FEATURE_LIMIT = 2**53 - 1  # what JavaScript reads from the token exactly


class CompQuerySet(models.QuerySet["Comp"]):
    def running(self, now: datetime) -> CompQuerySet:
        return self.filter(ended_at__isnull=True).filter(
            models.Q(until__isnull=True) | models.Q(until__gt=now)
        )


class Comp(models.Model):
    """A plan an operator gave an account without payment (`manage.py set_plan`): who gave it,
    why, and until when. While it runs it wins over Stripe's state: the nightly reconcile and
    webhooks keep it; when it ends the account's plan follows its subscription again."""

    account = models.ForeignKey("accounts.Account", on_delete=models.CASCADE, related_name="comps")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    granted_by = models.CharField(max_length=200)
    reason = models.TextField()
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: until withdrawn")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = CompQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.plan} for {self.account} ({self.reason})"


class CouponDuration(models.TextChoices):
    ONCE = "once", "the first invoice"
    REPEATING = "repeating", "a number of months"
    FOREVER = "forever", "every invoice"


# What Stripe accepts as a promotion code: letters, digits and - or _, case-insensitive.
PROMOTION_CODE_RULE = re.compile(r"[A-Za-z0-9_-]{1,50}")


class Coupon(models.Model):
    """A discount from the catalog, mirrored to a Stripe coupon, that customers redeem in
    Checkout with one of its promotion codes."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=40, help_text="Shown on invoices and in Checkout")
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    amount_off = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, default="usd")
    duration = models.CharField(max_length=10, choices=CouponDuration, default=CouponDuration.ONCE)
    duration_in_months = models.PositiveIntegerField(null=True, blank=True)
    promotion_codes = models.JSONField(default=list, blank=True)
    # Filled in by billing when the coupon is mirrored to Stripe.
    stripe_coupon_id = models.CharField(max_length=255, blank=True)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if (self.percent_off is None) == (self.amount_off is None):
            raise ValidationError("Give exactly one of percent_off and amount_off.")
        if self.percent_off is not None and not 0 < self.percent_off <= 100:
            raise ValidationError({"percent_off": "Between 0 (excluded) and 100."})
        if self.amount_off is not None and self.amount_off <= 0:
            raise ValidationError({"amount_off": "Must be more than 0."})
        repeating = self.duration == CouponDuration.REPEATING
        if repeating != (self.duration_in_months is not None) or self.duration_in_months == 0:
            raise ValidationError(
                {"duration_in_months": "Give it (1 or more) with duration repeating, only then."}
            )
        codes = self.promotion_codes
        if not isinstance(codes, list) or not all(
            isinstance(c, str) and PROMOTION_CODE_RULE.fullmatch(c) for c in codes
        ):
            raise ValidationError(
                {"promotion_codes": "A list of codes of letters, digits, - and _ (50 at most)."}
            )
        if len({c.upper() for c in codes}) != len(codes):
            raise ValidationError({"promotion_codes": "A code is listed twice."})
