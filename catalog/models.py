"""API products and plans: the catalog, kept as data (never `if plan == "pro"`).

Providers declare it in a TOML file applied by ``manage.py apply_catalog``; billing mirrors
plans to Stripe Products and Prices; the gateway enforces them.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
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


# Where calls made with test keys (tg_test_…) go: the live upstream, the mock built from the
# product's OpenAPI spec (sandbox/mock.py), or else an http(s):// URL, the seller's staging API.
# nginx routes on it (deploy/nginx/gateway.conf.template); see docs/sandbox.md.
TEST_ROUTE_LIVE = "live"
TEST_ROUTE_MOCK = "mock"
TEST_ROUTE_RULE = "live, mock, or the http:// or https:// URL of a sandbox (docs/sandbox.md)"
# What nginx's config could misread in an upstream's host part (gateway_config checks it too).
_UNSAFE_IN_URL = re.compile(r"[\s;{}'\"$#\\]")


def test_route_kind(route: str) -> str:
    """live, mock or sandbox: the kind of a product's test_route."""
    return route if route in (TEST_ROUTE_LIVE, TEST_ROUTE_MOCK) else "sandbox"


def sandbox_url_problem(url: str) -> str | None:
    """Why `url` cannot be a sandbox upstream (None when it can)."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        return "not an http:// or https:// URL"
    parts = urlsplit(url)
    if _UNSAFE_IN_URL.search(parts.netloc) or parts.username or parts.password:
        return "its host part has characters nginx would misread"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        # nginx forwards the caller's own path: a path here would be silently ignored.
        return "give the scheme, host and port only (the caller's path is forwarded as it is)"
    return None


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
    test_route = models.CharField(
        max_length=200,
        default=TEST_ROUTE_LIVE,
        help_text="Where test keys' calls go: live, mock (from the OpenAPI spec) or a sandbox URL",
    )
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
        self.clean_test_route()
        if problems := operation_problems(self.operations):
            raise ValidationError({"operations": problems}, code="invalid_operations")

    def clean_test_route(self) -> None:
        route = self.test_route
        if route == TEST_ROUTE_MOCK and not self.openapi_spec:
            raise ValidationError(
                {"test_route": "mock needs the product's OpenAPI spec (openapi_spec)."},
                code="mock_without_spec",
            )
        if test_route_kind(route) == "sandbox" and (problem := sandbox_url_problem(route)):
            raise ValidationError(
                {"test_route": f"{route[:80]!r}: {problem}; use {TEST_ROUTE_RULE}."},
                code="invalid_test_route",
            )

    @property
    def test_route_kind(self) -> str:
        return test_route_kind(self.test_route)


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
    # A time pass: sold once (Checkout mode=payment) for `pass_price`, valid `pass_days` days
    # from the purchase; the quota is the pass's (credits.passes). None: not sold as a pass.
    pass_days = models.PositiveIntegerField(null=True, blank=True)
    pass_price = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
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
    stripe_pass_price_id = models.CharField(max_length=255, blank=True)
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

    @property
    def has_overage(self) -> bool:
        return self.overage_price_per_1000 is not None

    @property
    def sold_as_pass(self) -> bool:
        return self.pass_days is not None and bool(self.stripe_pass_price_id)

    def clean(self) -> None:
        if problems := feature_problems(self.features):
            raise ValidationError({"features": problems}, code="invalid_features")
        if (self.pass_days is None) != (self.pass_price is None) or self.pass_days == 0:
            raise ValidationError(
                {"pass_days": "Give pass_days (1 or more) and pass_price together, or neither."}
            )
        if self.pass_price is not None and self.pass_price <= 0:
            raise ValidationError({"pass_price": "Must be more than 0."})

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


# What Stripe accepts as a promotion code (PromotionCodeCreateParams.code): "lower case letters
# (a-z), upper case letters (A-Z), digits (0-9), and dashes (-)", matched whatever the case.
PROMOTION_CODE_RULE = re.compile(r"[A-Za-z0-9-]{1,50}")


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
                {"promotion_codes": "A list of codes of letters, digits and - (50 at most)."}
            )
        if len({c.upper() for c in codes}) != len(codes):
            raise ValidationError({"promotion_codes": "A code is listed twice."})


class CreditPack(models.Model):
    """Prepaid units sold once through Checkout (mode=payment): each admitted live call of an
    account holding credits deducts its cost from them (credits app, gateway/limits.lua)."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    credits = models.PositiveBigIntegerField(help_text="Units granted (a call costs 1 by default)")
    price = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3, default="usd")
    # None: the units never expire.
    expires_after_days = models.PositiveIntegerField(null=True, blank=True)
    # The plan whose rate limits and products apply while the account spends credits.
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="credit_packs")
    is_retired = models.BooleanField(default=False, help_text="No longer sold")
    sort_order = models.PositiveIntegerField(default=0)
    # Filled in by billing when the pack is mirrored to Stripe.
    stripe_product_id = models.CharField(max_length=255, blank=True)
    stripe_price_id = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["sort_order", "price", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.credits is not None and self.credits <= 0:
            raise ValidationError({"credits": "Must be 1 or more."})
        if self.price is not None and self.price <= 0:
            raise ValidationError({"price": "Must be more than 0."})
        if self.expires_after_days == 0:
            raise ValidationError({"expires_after_days": "1 or more, or leave it out."})
