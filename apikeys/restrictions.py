"""Validation of key restrictions, shared by the portal forms and the REST API serializers.

Each function takes what a person typed (a list of strings) and returns the normalised list
the model stores, or raises ValidationError with a message that says what to fix.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.core.exceptions import ValidationError

from catalog import paths

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_ENTRIES = 50


def _cleaned(values: Iterable[str]) -> list[str]:
    items = [str(v).strip() for v in values if str(v).strip()]
    if len(items) > MAX_ENTRIES:
        raise ValidationError(f"At most {MAX_ENTRIES} entries.", code="too_many")
    return list(dict.fromkeys(items))  # drop duplicates, keep order


def clean_methods(values: Iterable[str]) -> list[str]:
    methods = [m.upper() for m in _cleaned(values)]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValidationError(
            f"Unknown HTTP method: {', '.join(unknown)}. Use {', '.join(METHODS)}.",
            code="invalid_method",
        )
    return methods


def clean_path_prefixes(values: Iterable[str]) -> list[str]:
    prefixes = _cleaned(values)
    for prefix in prefixes:
        # Canonical, as the gateway judges paths: a prefix any other way would never match.
        if len(prefix) > 200 or not paths.is_canonical_prefix(prefix):
            raise ValidationError(
                f"“{prefix[:40]}” is not a path prefix: start with / and use letters, digits"
                " and -._~!$&'()*+,=:@ between single slashes, with no . or .. segments.",
                code="invalid_path_prefix",
            )
    return prefixes


def clean_ips(values: Iterable[str]) -> list[str]:
    networks = []
    for entry in _cleaned(values):
        try:
            networks.append(str(ipaddress.ip_network(entry, strict=False)))
        except ValueError:
            raise ValidationError(
                f"“{entry[:45]}” is not an IP address or CIDR range (e.g. 203.0.113.0/24).",
                code="invalid_ip",
            ) from None
    return networks


def clean_products(values: Iterable[str]) -> list[str]:
    from catalog.models import ApiProduct

    slugs = _cleaned(values)
    known = set(ApiProduct.objects.filter(slug__in=slugs).values_list("slug", flat=True))
    unknown = [s for s in slugs if s not in known]
    if unknown:
        raise ValidationError(
            f"Unknown API product: {', '.join(u[:40] for u in unknown)}.", code="invalid_product"
        )
    return slugs


def split_lines(text: str) -> list[str]:
    """Textarea input: one entry per line, commas also accepted."""
    return [part for line in text.splitlines() for part in line.split(",")]
